"""Sweep browser: explore a (finished or running) sweep in the browser
(``make browse SWEEP=<dir>``). Public API: the query layer, usable without a browser."""

from experiments.browser.query import Selection, SweepBrowser, csv_text

__all__ = ["Selection", "SweepBrowser", "csv_text"]
