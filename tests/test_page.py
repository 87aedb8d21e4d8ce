"""The consumer's web page in a real browser (Debian's Chromium, driven by Playwright; nothing
is downloaded): a job started through the command line appears, its status changes live, its
log streams while it runs, its result downloads. The page is signed in by the link `c2d web`
prints, which works once. A screenshot is kept in build/test-artifacts/page.png."""

import json
import re
import time

import httpx
import pytest
from eth_account import Account

from c2d.localchain import dev_keys, free_port
from commands import c2d, printing
from stacks import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO / "build" / "test-artifacts"
STEPS = 16
PAGE_TOKEN = "the operator's page token, 32 characters or so"
PRINTING = printing(STEPS)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data = tmp_path_factory.mktemp("page-stack")
    ports = ["--chain-port", str(free_port()), "--provider-port", str(free_port()), "--operator-port", str(free_port())]
    token = data.parent / f"{data.name}-page-token"
    token.write_text(PAGE_TOKEN)
    token.chmod(0o600)
    c2d("stack", "up", "--data-dir", str(data), *ports, env={"C2D_PUBLISHER_PAGE_TOKEN_FILE": str(token)})
    try:
        yield data, json.loads((data / "stack.json").read_text())
    finally:
        c2d("stack", "down", "--data-dir", str(data))


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def link_from(output: str) -> str:
    return re.search(r"http://\S+/ui/#session=\S+", output).group(0)


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_a_job_appears_changes_live_streams_its_log_and_downloads(stack, browser, tmp_path):
    data, _ = stack
    published = data / "published"
    (published / "n.csv").write_text("1\n2\n3\n")
    (published / "printing.py").write_text(PRINTING)
    dataset = c2d(
        "publish",
        "dataset",
        str(published / "n.csv"),
        "--allow-raw",
        "--output-policy",
        "open",
        "--data-dir",
        str(data),
    ).stdout
    did = re.search(r"did:op:[0-9a-fA-F]{40}", dataset).group(0)
    c2d("tokens", "buy", did, "--data-dir", str(data))
    started = c2d(
        "compute", "start", did, "--raw", str(published / "printing.py"), "--no-wait", "--data-dir", str(data)
    )
    job_id = re.search(r"job ([0-9a-f]{32})", started.stdout).group(1)
    link = link_from(c2d("web", "--data-dir", str(data)).stdout)

    page = browser.new_page(accept_downloads=True)
    loading = time.monotonic()
    page.goto(link)
    row = page.locator(f"tr.job[data-job='{job_id}']")
    row.wait_for(timeout=15_000)
    loaded = time.monotonic() - loading
    assert "#session" not in page.url  # the signed request left the address bar
    consumer = Account.from_key(dev_keys(3)[2]).address  # the embedded stack's consumer (account 2)
    assert page.locator("#who").inner_text().lower() == consumer.lower()

    # live: the status it shows while running, then the log streaming before the job ends
    row.click()
    # (locators, not page scripts: the page's CSP allows no eval, Playwright's included)
    expect(page.locator("#log")).to_contain_text("step 2", timeout=30_000)
    running = row.locator("td[data-status]").get_attribute("data-status")
    assert running == "40", running
    expect(row.locator("td[data-status='70']")).to_have_count(1, timeout=60_000)
    expect(page.locator("#logstate")).to_have_text("ended", timeout=30_000)
    log = page.locator("#log").inner_text()
    assert [line for line in log.splitlines() if line.startswith("step")] == [f"step {i}" for i in range(STEPS)]
    assert page.locator("#environments tbody tr").count() >= 1

    row = page.locator(f"tr.job[data-job='{job_id}']")
    with page.expect_download() as downloading:
        row.locator("a.result", has_text="sum.txt").click()
    saved = tmp_path / "sum.txt"
    downloading.value.save_as(saved)
    assert saved.read_text() == "6"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)
    (ARTIFACTS / "page-load.json").write_text(json.dumps({"seconds_to_first_job_row": round(loaded, 3)}))
    print(f"page: first job row {loaded:.2f} s after navigation; screenshot {ARTIFACTS / 'page.png'}")


def test_the_link_works_once_and_a_page_without_it_reads_nothing(stack, browser):
    data, state = stack
    link = link_from(c2d("web", "--data-dir", str(data)).stdout)
    first = browser.new_page()
    first.goto(link)
    expect(first.locator("#who")).to_contain_text("0x", timeout=15_000)
    again = browser.new_context().new_page()  # another browser: the same link, replayed
    again.goto(link)
    expect(again.locator("#error")).to_contain_text("refused", timeout=15_000)
    assert again.locator("#signin").is_visible()
    # no cookie, no jobs; and the page's headers keep it to its own files
    assert httpx.get(state["provider_url"] + "/ui/api/jobs", timeout=5).status_code == 401
    headers = httpx.get(state["provider_url"] + "/ui/", timeout=5).headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    forged = httpx.get(state["provider_url"] + "/ui/api/jobs", cookies={"c2d_session": "x" * 43}, timeout=5)
    assert forged.status_code == 401 and forged.json()["error"] == "no_session"


def test_the_publishers_page_shows_every_job_the_queue_and_failures(stack, browser):
    data, state = stack
    published = data / "published"
    (published / "m.csv").write_text("7\n")
    (published / "failing.py").write_text("import sys\nprint('no luck', flush=True)\nsys.exit(3)\n")
    dataset = c2d("publish", "dataset", str(published / "m.csv"), "--allow-raw", "--data-dir", str(data)).stdout
    did = re.search(r"did:op:[0-9a-fA-F]{40}", dataset).group(0)
    c2d("tokens", "buy", did, "--data-dir", str(data))
    failed = c2d("compute", "start", did, "--raw", str(published / "failing.py"), "--data-dir", str(data), check=False)
    job_id = re.search(r"job ([0-9a-f]{32})", failed.stdout).group(1)
    assert "41 Algorithm failed" in failed.stdout, failed.stdout

    assert httpx.get(state["operator_url"] + "/ui/api/jobs", timeout=5).status_code == 401
    page = browser.new_page()
    page.goto(state["operator_url"] + "/ui/")
    page.locator("#token").fill("not the token")
    page.locator("#signin button").click()
    expect(page.locator("#error")).to_contain_text("refused", timeout=10_000)
    page.locator("#token").fill(PAGE_TOKEN)
    page.locator("#signin button").click()
    failure = page.locator(f"#failures tr[data-job='{job_id}']")
    expect(failure).to_contain_text("41 Algorithm failed", timeout=15_000)
    assert page.locator("#jobs tbody tr").count() >= 2  # the other test's job and this one, of any consumer
    expect(page.locator("#queue tr[data-environment='default']")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "publisher-page.png"), full_page=True)
