"""The load-test suite's front: scenarios as data (`loadtest/scenarios/*.yaml`, `scenario`), run
against any OpenAI-compatible endpoint with the open-loop generator (`runner`), and their results
as JSON lines and Markdown reports (`report`); `python -m loadtest` is its command line."""
