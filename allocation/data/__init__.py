"""Data contracts: table schemas, cell coercion, cross-table rules and loading/writing a data folder."""
