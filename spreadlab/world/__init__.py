"""Facts: the 32 personas, the events, the networks, and the records a run leaves.

Imports nothing of ours but the foundation modules."""
