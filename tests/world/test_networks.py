import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.world.networks import (
    NetworkSpec,
    barabasi_albert,
    erdos_renyi,
    load_edge_list,
    random_regular,
    watts_strogatz,
)


def assert_simple_undirected(net):
    edges = net.edges()
    assert np.all(edges[:, 0] < edges[:, 1])
    assert len(np.unique(edges, axis=0)) == len(edges) == net.n_edges
    # CSR is symmetric: every (i, j) has its (j, i)
    src = np.repeat(np.arange(net.n), net.degrees)
    forward = set(zip(src.tolist(), net.indices.tolist(), strict=True))
    assert all((j, i) in forward for i, j in forward)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 400), k=st.integers(1, 30), seed=st.integers(0, 2**32 - 1))
def test_random_regular_is_simple_and_k_regular(n, k, seed):
    if k >= n or (n * k) % 2:
        with pytest.raises(ConfigError):
            random_regular(n, k, seed)
        return
    net = random_regular(n, k, seed)
    assert net.n == n and set(net.degrees.tolist()) == {k}
    assert_simple_undirected(net)


def test_random_regular_is_seeded_and_large_graphs_are_fast_path():
    a, b, c = random_regular(5000, 10, 1), random_regular(5000, 10, 1), random_regular(5000, 10, 2)
    assert np.array_equal(a.indices, b.indices) and not np.array_equal(a.indices, c.indices)
    assert_simple_undirected(a)
    # a random regular graph of this size is connected with high probability and locally tree-like
    g = a.to_networkx()
    assert nx.is_connected(g)
    assert nx.transitivity(g) < 0.01


@pytest.mark.parametrize(
    "n, k, message", [(7, 3, "odd"), (5, 5, "smaller than N"), (1, 0, "at least 2")]
)
def test_random_regular_refuses_impossible_requests(n, k, message):
    with pytest.raises(ConfigError, match=message):
        random_regular(n, k, 0)
    with pytest.raises(ConfigError, match=message):
        NetworkSpec(n=n, k=k)


def test_other_generators():
    er = erdos_renyi(20000, 8.0, 3)
    assert abs(er.mean_degree - 8.0) < 0.1
    assert_simple_undirected(er)
    ws = watts_strogatz(500, 6, 0.1, 3)
    assert ws.mean_degree == 6
    ba = barabasi_albert(500, 3, 3)
    assert ba.degrees.max() > 20
    for net in (ws, ba):
        assert_simple_undirected(net)


def test_edge_list_round_trip_and_errors(tmp_path):
    good = tmp_path / "edges.csv"
    good.write_text("u,v\n0,1\n1,2\n# comment\n2,3\n")
    net = load_edge_list(good)
    assert net.n == 4 and net.n_edges == 3
    cases = {
        "self.csv": ("0,1\n2,2\n", "line 2: self-loop"),
        "dup.csv": ("0,1\n1,0\n", "line 2: edge 1-0 appears twice"),
        "text.csv": ("0,1\n1,x\n", "line 2: agent ids must be integers"),
        "one.txt": ("0 1\n3\n", "line 2: expected two agent ids"),
        "empty.txt": ("# nothing\n", "no edges"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(DataFormatError, match=message):
            load_edge_list(path)
    with pytest.raises(DataFormatError, match="cannot read"):
        load_edge_list(tmp_path / "missing.csv")
