"""The stack's configuration in three layers, imported by their module, never through this package (so that importing
the schema never runs the rules or the loader):

- schema.py: the typed models, every setting with its default, documentation and own validation (and secrets.py, the
  keys only a person supplies);
- rules.py: the registry of the rules across fields, which live beside the concern each guards and import the schema;
- loader.py: reads the configuration through Pulumi, validates it against the schema, runs the rules, reports.
"""
