"""The harness: what runs a workload and says what it measured. Scenarios as data
(`loadtest/scenarios/*.yaml`, `scenario`) run against any OpenAI-compatible endpoint with the
open-loop generator (`runner`), their results as JSON lines, Markdown and HTML reports (`report`,
`html_report`, `scorecard`); and the proxy benchmark's parts: the targets it starts (`targets`,
`bare_proxy`, `processes`, pinned to cores with `cpu`), its trials, ceiling search and report."""
