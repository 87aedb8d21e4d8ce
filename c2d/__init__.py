"""c2d: Compute-to-Data. Publishers keep their data; consumers pay with datatokens and send
an algorithm to it; only the results leave."""

__version__ = "0.1.0"
