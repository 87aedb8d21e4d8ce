"""The provider as `c2d provider` serves it, for uvicorn's command line in the benchmarks."""

from c2d.provider import create_app, load_settings

app = create_app(load_settings())
