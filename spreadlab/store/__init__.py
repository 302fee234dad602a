"""The DuckDB file: its one schema, runs, fits, the reply cache, import and export, file sharing."""
