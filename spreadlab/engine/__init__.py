"""The simulator: rounds, replicates, the policy protocol and the stochastic policy."""
