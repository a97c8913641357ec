"""Jobs: billing runs, the catalog and contract loaders, the data generator and the CLI."""
