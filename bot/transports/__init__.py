"""Platform adapters: each turns platform updates into `Incoming` and `OutMessage` into platform calls."""
