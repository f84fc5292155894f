"""What the cluster tests read of a node's view of the cluster (its `/health`)."""


def cluster_view(srv):
    status, body = srv.health()
    assert status == 200, body
    return body["cluster"]


def node_ids(srv):
    return sorted(n["id"] for n in cluster_view(srv)["nodes"])


def environments_of(srv, name):
    """Environments of `name` per node, as `srv`'s view of the cluster shows them."""
    out = {}
    for n in cluster_view(srv)["nodes"]:
        count = sum(e["idle"] + e["busy"] for e in n["environments"] if e["function"] == name)
        if count:
            out[n["id"]] = count
    return out
