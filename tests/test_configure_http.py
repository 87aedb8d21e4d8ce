"""configure's HTTP client (http.client over the engine's relay socket) against a provider that
answers badly: every such answer is a clear provisioning failure, never a traceback, and an
error's body is read only up to a bound; a provider unavailable for a while is asked again."""

import socket
import threading

import pytest

from c2d.job import ConfigureExit
from c2d.pods.configure import ERROR_BYTES, InputFetcher, ProvisioningFailed

KEY = "0x" + "11" * 32


def _serve(path, answer: bytes, sent: list[int], *more: bytes):
    """Connections on a Unix socket, one per answer: each reads the request, sends the next
    answer (`answer`, then `more`), closes."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run():
        for each in (answer, *more):
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)
                try:
                    connection.sendall(each)
                    sent.append(len(each))
                except OSError:  # the client stopped reading: what it read was bounded
                    sent.append(-1)
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (b"\xff\xfe not http at all\r\n\r\n", "provider unreachable (BadStatusLine)"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", "provider unreachable (LineTooLong)"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly a part", "provider unreachable (IncompleteRead)"),
        (b"", "provider unreachable (RemoteDisconnected)"),
        (b'HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\n{"err"', "provider answered 403"),
    ],
)
def test_a_bad_answer_is_a_clear_failure(tmp_path, answer, said):
    sent: list[int] = []
    thread = _serve(tmp_path / "relay.sock", answer, sent)
    fetcher = InputFetcher("http://provider", KEY, "job", str(tmp_path / "relay.sock"), retry_seconds=0)
    with pytest.raises(ProvisioningFailed) as failed:
        fetcher.fetch("did:op:x", 0, tmp_path / "input", None, ConfigureExit.DATA_FAILED)
    thread.join(timeout=10)
    assert failed.value.code == ConfigureExit.DATA_FAILED
    assert said in failed.value.reason, failed.value.reason
    assert not (tmp_path / "input").exists() or "IncompleteRead" in said


def test_an_error_body_is_read_only_up_to_its_bound(tmp_path):
    body = b'{"error": "x", "message": "' + b"y" * (50 << 20) + b'"}'
    answer = b"HTTP/1.1 500 Internal\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    sent: list[int] = []
    thread = _serve(tmp_path / "relay.sock", answer, sent)
    fetcher = InputFetcher("http://provider", KEY, "job", str(tmp_path / "relay.sock"))
    response = fetcher._send("did:op:x", 0)
    assert response.status_code == 500 and len(response.read()) == ERROR_BYTES
    response.close()
    thread.join(timeout=10)
    assert sent == [-1]  # the 50 MB were never taken in


def test_no_provider_at_all(tmp_path):
    fetcher = InputFetcher("http://provider", KEY, "job", str(tmp_path / "missing.sock"), retry_seconds=0)
    with pytest.raises(ProvisioningFailed) as failed:
        fetcher.fetch("did:op:x", 0, tmp_path / "input", None, ConfigureExit.ALGORITHM_FAILED)
    assert failed.value.code == ConfigureExit.ALGORITHM_FAILED
    assert "provider unreachable (FileNotFoundError)" in failed.value.reason
    fetcher.forget()  # best effort: no exception either


BUSY = b'{"error": "operator_unavailable", "message": "try later"}'
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (len(BUSY), BUSY)
FILE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n1\n2\n3"


def test_a_provider_unavailable_for_a_while_is_asked_again_until_it_answers(tmp_path, capsys):
    """Found by the chaos suite: a provider restarted (or its operator service) while a job
    configured failed the job (status 31) though the provider was back a second later."""
    sent: list[int] = []
    thread = _serve(tmp_path / "relay.sock", UNAVAILABLE, sent, b"", FILE)  # 503, broken off, the file
    fetcher = InputFetcher("http://provider", KEY, "job", str(tmp_path / "relay.sock"), retry_seconds=30)
    fetcher.fetch("did:op:x", 0, tmp_path / "input", None, ConfigureExit.DATA_FAILED)
    thread.join(timeout=10)
    assert (tmp_path / "input").read_bytes() == b"1\n2\n3" and len(sent) == 3
    tries = capsys.readouterr().err.splitlines()
    assert tries == [
        "did:op:x file 0: provider answered 503 operator_unavailable; asking again in 0.2 s",
        "did:op:x file 0: provider unreachable (RemoteDisconnected); asking again in 0.4 s",
    ]


def test_a_provider_away_longer_than_the_retries_is_a_clear_failure(tmp_path):
    fetcher = InputFetcher("http://provider", KEY, "job", str(tmp_path / "missing.sock"), retry_seconds=1)
    with pytest.raises(ProvisioningFailed) as failed:
        fetcher.fetch("did:op:x", 0, tmp_path / "input", None, ConfigureExit.DATA_FAILED)
    assert failed.value.reason == "did:op:x file 0: provider unreachable (FileNotFoundError) (asked for 1 s)"


def test_a_configure_run_again_after_its_signal_leaves_the_inputs_alone(tmp_path, capsys, monkeypatch):
    """Found by the chaos suite (kubernetes, seed 2064142168, runs 7 and 39): configure's pod,
    deleted after it had given its signal, was run again by its Job, and the new run emptied the
    inputs and fetched them again while the algorithm read them: the job finished 70 with a sum
    of nothing. Once the signal is given (the engine clears it before it configures a job again
    itself), a configure run again fetches and removes nothing."""
    from c2d.job import layout
    from c2d.pods.configure import main
    from jobs import job_spec

    job_dir = tmp_path / "job"
    layout.signals(job_dir).mkdir(parents=True)
    layout.write_spec(job_dir, job_spec("again"))
    inputs = layout.data(job_dir) / "inputs" / "did:op:1"
    inputs.mkdir(parents=True)
    (inputs / "0").write_text("1\n2\n")
    monkeypatch.setenv("C2D_OPERATOR_KEY", "0x" + "08" * 32)
    monkeypatch.setenv("C2D_PROVIDER_URL", "http://127.0.0.1:9")  # nothing is asked of it
    layout.signal(job_dir, layout.CONFIGURED)
    assert main([str(job_dir)]) == ConfigureExit.PROVISIONED
    assert (inputs / "0").read_text() == "1\n2\n"
    assert "run again, and does nothing" in capsys.readouterr().out
