"""The semantic cache's evaluation on pairs nobody here wrote (issue 15); see README.md."""
