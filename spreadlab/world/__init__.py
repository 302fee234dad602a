"""Facts: the 32 personas, the events, the networks.

Imports nothing of ours but the foundation modules."""
