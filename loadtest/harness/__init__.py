"""The harness: what runs a workload and says what it measured. Scenarios as data
(`loadtest/scenarios/*.yaml`, `scenario`) run against any OpenAI-compatible endpoint with the
generator (`runner`), their results as JSON lines, Markdown and HTML reports (`report`,
`html_report`, `scorecard`); the targets it starts itself: side by side, pinned to one core
(`lineup`: the simulated cloud, a bare proxy, the router and peers), or a whole local stack whose
surroundings a phase breaks (`stack`, `disruption_spec`, `disruptions`); and the proxy
benchmark's parts (`targets`, `bare_proxy`, `processes`, `cpu`, its trials, ceiling search and
report)."""
