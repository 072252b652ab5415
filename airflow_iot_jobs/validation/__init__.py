"""Input rules, checked before any remote call: ``common`` (every backend), one module per service's own rules."""
