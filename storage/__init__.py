"""Tables, queries and domain rules, one module per feature."""
