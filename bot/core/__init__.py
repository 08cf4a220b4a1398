"""The transport-neutral core: types, routing, conversation state, i18n, roles."""
