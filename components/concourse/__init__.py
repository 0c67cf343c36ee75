"""Concourse beyond its chart: its limits and their rules, teams over the team API, pipelines, the canary, the
idtoken var source, and the infra pipeline and teams' Azure identities that trust its tokens."""
