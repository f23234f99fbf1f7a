"""The one-off measurements behind the docs: each module a study run by its own command line
(`python -m loadtest.studies.NAME`), its figures written into docs/benchmarks.md or the page it
names, and the evaluations' datasets (`cache_eval`, `privacy_eval`). Unlike the suite, most studies
import the router itself, so they need it installed beside the load-test distribution."""
