"""Drives an unmodified Elasticsearch or OpenSearch Python client against fanout's
Elasticsearch API (tests/tests/elastic_clients.rs runs it).

    python elastic_clients.py --url http://127.0.0.1:PORT/_elastic --client elasticsearch \
        --cases cases.json --phase full

The cases file names the index and the query DSL clauses to run. The script calls the
client as an application would, checks what only the client can tell (its exception
types, its response objects), and prints one JSON object per line of what it got, for
the Rust test to hold against the single-index reference. Any failed check exits 1.
"""

import argparse
import json
import sys


def fail(message):
    print(f"elastic_clients.py: {message}", file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def report(kind, **fields):
    print(json.dumps({"check": kind, **fields}), flush=True)


def pairs(answer):
    return [[hit["_id"], hit["_score"]] for hit in answer["hits"]["hits"]]


class ElasticsearchClient:
    """The official elasticsearch client (8.x or 9.x): keyword arguments per body key."""

    def __init__(self, url):
        import elasticsearch

        self.module = elasticsearch
        self.major = elasticsearch.__version__[0]
        self.client = elasticsearch.Elasticsearch(url, request_timeout=30)

    def search(self, index, body, **params):
        arguments = dict(body)
        if "from" in arguments:
            arguments["from_"] = arguments.pop("from")
        if "_source" in arguments:
            arguments["source"] = arguments.pop("_source")
        return self.client.search(index=index, **arguments, **params).body

    def count(self, index, query):
        return self.client.count(index=index, query=query).body

    def msearch(self, searches):
        return self.client.msearch(searches=searches).body

    def get(self, index, doc_id):
        return self.client.get(index=index, id=doc_id).body

    def info(self):
        return self.client.info().body

    def cat_indices(self):
        return self.client.cat.indices(format="json").body

    def mapping(self, index):
        return self.client.indices.get_mapping(index=index).body

    def status_of(self, call):
        """The HTTP status and Elasticsearch error type of a call that must fail."""
        try:
            call()
        except self.module.ApiError as error:
            return error.meta.status, error.error
        fail("the call succeeded where it must fail")

    def missing_is_not_found(self, index):
        try:
            self.get(index, "no-such-document")
        except self.module.NotFoundError as error:
            return error.meta.status
        fail("a missing document did not raise NotFoundError")


class OpenSearchClient:
    """opensearch-py: request bodies as `body`."""

    def __init__(self, url):
        import opensearchpy
        from urllib.parse import urlparse

        self.module = opensearchpy
        self.major = opensearchpy.__versionstr__
        parsed = urlparse(url)
        host = {"host": parsed.hostname, "port": parsed.port, "url_prefix": parsed.path}
        self.client = opensearchpy.OpenSearch(hosts=[host], timeout=30)

    def search(self, index, body, **params):
        return self.client.search(index=index, body=body, params=params or None)

    def count(self, index, query):
        return self.client.count(index=index, body={"query": query})

    def msearch(self, searches):
        return self.client.msearch(body=searches)

    def get(self, index, doc_id):
        return self.client.get(index=index, id=doc_id)

    def info(self):
        return self.client.info()

    def cat_indices(self):
        return self.client.cat.indices(format="json")

    def mapping(self, index):
        return self.client.indices.get_mapping(index=index)

    def status_of(self, call):
        try:
            call()
        except self.module.exceptions.TransportError as error:
            return error.status_code, error.error
        fail("the call succeeded where it must fail")

    def missing_is_not_found(self, index):
        try:
            self.get(index, "no-such-document")
        except self.module.exceptions.NotFoundError as error:
            return error.status_code
        fail("a missing document did not raise NotFoundError")


def full(client, cases):
    index = cases["index"]
    info = client.info()
    check(info["tagline"] == "You Know, for Search", f"info: {info}")
    report("info", version=info["version"]["number"])

    for name, query in enumerate(cases["ranked"]):
        answer = client.search(index, {"query": query, "size": 10})
        report("ranked", case=name, hits=pairs(answer), total=answer["hits"]["total"]["value"])
    for name, query in enumerate(cases["counted"]):
        counted = client.count(index, query)
        report("counted", case=name, count=counted["count"])

    # search_after pages, as the client's users page: the last hit's `sort` values.
    query = {"match": {"title": "startup"}}
    sort = [{"score": "desc"}]
    whole = client.search(index, {"query": query, "sort": sort, "size": 30})
    paged, after = [], None
    for _ in range(3):
        body = {"query": query, "sort": sort, "size": 10}
        if after is not None:
            body["search_after"] = after
        page = client.search(index, body)
        paged += [hit["_id"] for hit in page["hits"]["hits"]]
        after = page["hits"]["hits"][-1]["sort"]
    check(paged == [hit["_id"] for hit in whole["hits"]["hits"]], "search_after pages differ from one page")
    report("paged", hits=len(paged))

    # _msearch: each answer as its own search gives it.
    first = {"query": {"match": {"title": "apple"}}, "size": 5}
    second = {"query": {"match_phrase": {"title": "open source"}}, "size": 5}
    multi = client.msearch([{"index": index}, first, {"index": index}, second])
    check(len(multi["responses"]) == 2, f"msearch: {multi}")
    for body, answer in zip([first, second], multi["responses"]):
        check(pairs(answer) == pairs(client.search(index, body)), f"msearch answer differs for {body}")
    report("msearch", responses=len(multi["responses"]))

    # get by id, found and missing.
    some = client.search(index, {"query": {"match": {"title": "google"}}, "size": 1})["hits"]["hits"][0]
    document = client.get(index, some["_id"])
    check(document["found"] and document["_source"] == some["_source"], f"get: {document}")
    report("get", id=document["_id"], missing_status=client.missing_is_not_found(index))

    # Aggregations and highlights.
    aggs = {"authors": {"terms": {"field": "by", "size": 5, "segment_size": 100000}}, "points": {"stats": {"field": "score"}}}
    aggregated = client.search(index, {"query": {"query_string": {"query": "google"}}, "size": 0, "aggs": aggs})
    report("aggregations", aggregations=aggregated["aggregations"])
    highlighted = client.search(index, {"query": {"match": {"title": "google"}}, "highlight": {"fields": {"title": {}}}})
    fragment = highlighted["hits"]["hits"][0]["highlight"]["title"][0]
    check("<em>" in fragment, f"highlight: {fragment}")
    report("highlight", fragment=fragment)

    # Index metadata.
    indices = client.cat_indices()
    mapping = client.mapping(index)
    report("indices", docs=indices[0]["docs.count"], types=mapping[index]["mappings"]["properties"]["time"])

    # An unsupported clause: the client's 400 with Elasticsearch's error type.
    status, kind = client.status_of(lambda: client.search(index, {"query": {"fuzzy": {"title": "gogle"}}}))
    check(status == 400 and kind == "parsing_exception", f"fuzzy: {status} {kind}")
    report("unsupported", status=status, type=kind)


def partial(client, cases):
    index = cases["index"]
    query = {"match": {"title": "google"}}
    answer = client.search(index, {"query": query}, request_cache="false")
    report("partial", shards=answer["_shards"], total=answer["hits"]["total"]["value"])
    status, kind = client.status_of(
        lambda: client.search(index, {"query": query}, allow_partial_search_results="false", request_cache="false")
    )
    report("refused", status=status, type=kind)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--client", choices=["elasticsearch", "opensearch"], required=True)
    parser.add_argument("--cases", required=True)
    parser.add_argument("--phase", choices=["full", "partial"], required=True)
    args = parser.parse_args()
    with open(args.cases) as file:
        cases = json.load(file)
    client = ElasticsearchClient(args.url) if args.client == "elasticsearch" else OpenSearchClient(args.url)
    report("client", name=args.client, version=str(client.major))
    (full if args.phase == "full" else partial)(client, cases)


if __name__ == "__main__":
    main()
