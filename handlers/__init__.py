"""Conversations, one module per feature. Handlers get an `Incoming` and a `Context` and return `Reply`
values; they never import a platform library and never format platform markup."""
