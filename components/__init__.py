"""cdstack's components: the typed configuration, the chart catalog, naming, and the resource graph."""
