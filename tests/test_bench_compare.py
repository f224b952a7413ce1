"""The pure parts of the bench's real-site and many-jobs parts: parsing what the tools and nginx
print, page counting, medians, ratios and the markdown tables. Nothing here runs a crawl or times
anything."""
from __future__ import annotations

import json

import pytest

from bench import accesslog, tools
from bench.__main__ import parse_args
from bench.compare import JobTiming, ToolRun, batch_figures, many_table, spread, summarise, tree_table
from bench.many import site_sizes
from bench.real import rotated
from bench.service import parse_smaps_rollup
from bench.nginxconf import Site, hold_ms, render, server_block

WGET_OUTPUT = """\
2026-12-01 02:37:25 URL:http://127.0.0.1:18765/vacuumlo.html [9516/9516] -> "/tmp/wg/s/vacuumlo.html.tmp.tmp" [1]
Found 1 broken link.

http://127.0.0.1:18765/pgsql-docs@lists.postgresql.org

FINISHED --2026-12-01 02:37:25--
Total wall clock time: 1.1s
Downloaded: 1170 files, 15M in 0.06s (249 MB/s)
"""


def test_parse_wget_reads_its_summary():
    assert tools.parse_wget(WGET_OUTPUT) == {"downloaded": 1170, "broken": 1, "seconds": 1.1}


def test_parse_wget_no_broken_links_and_milliseconds():
    output = "Found no broken link.\n\nFINISHED --x--\nTotal wall clock time: 850ms\nDownloaded: 3 files, 9K in 0s\n"
    assert tools.parse_wget(output) == {"downloaded": 3, "broken": 0, "seconds": 0.85}


def test_parse_wget_without_a_summary_counts_nothing():
    assert tools.parse_wget("wget: unable to resolve host address\n") == {"downloaded": 0, "broken": 0, "seconds": None}


def test_parse_linkinator_counts_distinct_urls_not_link_occurrences():
    origin = "http://127.0.0.1:9"
    links = [{"url": f"{origin}/", "status": 200, "state": "OK"}]
    for page in range(3):  # a broken link on every page: three entries, one URL
        links.append({"url": f"{origin}/p{page}.html", "status": 200, "state": "OK", "parent": f"{origin}/"})
        links.append({"url": f"{origin}/gone", "status": 404, "state": "BROKEN", "parent": f"{origin}/p{page}.html"})
        links.append({"url": "https://example.org/", "state": "SKIPPED", "parent": f"{origin}/p{page}.html"})
    output = "(node) warning: something on stderr\n" + json.dumps({"links": links, "passed": False}, indent=2)
    assert tools.parse_linkinator(output) == {"checked": 5, "broken": 1, "skipped": 1, "passed": False}


def test_parse_linkinator_without_json_says_so():
    with pytest.raises(ValueError, match="no JSON"):
        tools.parse_linkinator("Error: connect ECONNREFUSED\n")


def test_linkinator_skips_other_origins_and_assets():
    import re

    command = tools.linkinator_command("http://127.0.0.1:81/doc/", "http://127.0.0.1:81", 20)
    skips = [command[i + 1] for i, part in enumerate(command) if part == "--skip"]
    assert len(skips) == 2 and "--recurse" in command and command[command.index("--concurrency") + 1] == "20"

    def skipped(url):  # linkinator tests each pattern with JavaScript's RegExp; these need no JS-only syntax
        return any(re.search(pattern, url) for pattern in skips)

    assert not skipped("http://127.0.0.1:81/doc/a.html") and not skipped("http://127.0.0.1:81/_sources/a.rst.txt")
    assert skipped("http://127.0.0.1:8100/a.html") and skipped("https://httpd.apache.org/docs/")
    assert skipped("http://127.0.0.1:81/style.css") and skipped("http://127.0.0.1:81/logo.png?v=2")


def test_wget_recurses_without_depth_limit_and_rejects_assets(tmp_path):
    command = tools.wget_command("http://127.0.0.1:81/", tmp_path)
    assert command[:3] == ["wget", "--spider", "-r"] and command[command.index("-l") + 1] == "inf"
    assert "--no-parent" in command and "css" in command[command.index("-R") + 1].split(",")


ACCESS_LOG = "\n".join([
    "1000.100\t302\tGET\t/\ttext/html",
    "1000.200\t200\tGET\t/doc/\ttext/html",
    "1000.300\t200\tGET\t/doc/a.html\ttext/html; charset=utf-8",
    "1000.350\t200\tGET\t/doc/a.html\ttext/html",  # fetched twice: one page
    "1000.400\t200\tHEAD\t/doc/b.html\ttext/html",  # HEAD: checked, not fetched
    "1000.500\t200\tGET\t/doc/a.txt\ttext/plain",
    "1000.600\t404\tGET\t/robots.txt\ttext/html",
    "not a log line",
    "2000.000\t200\tGET\t/doc/c.html\ttext/html",  # another tool's run, later
])  # fmt: skip


def test_access_log_counts_pages_urls_and_requests_in_a_window():
    hits = accesslog.parse(ACCESS_LOG)
    assert len(hits) == 8
    counts = accesslog.count(hits, 1000.0, 1001.0)
    assert (counts.pages, counts.urls, counts.requests) == (2, 6, 7)
    assert (counts.first, counts.last) == (1000.1, 1000.6)
    assert accesslog.count(hits, 1500.0).pages == 1
    assert accesslog.count(hits, 3000.0) == accesslog.Counts(0, 0, 0, None, None)


def test_access_log_format_matches_the_parser():
    # nginx writes log_format's \t as a tab: six fields in this order
    fields = accesslog.ACCESS_FORMAT.strip("'").split("\\t")
    assert fields == ["$msec", "$status", "$request_method", "$request_uri", "$sent_http_content_type", "$request_time"]
    hit = accesslog.parse_line("1000.250\t200\tGET\t/a.html\ttext/html\t0.200")
    assert hit.duration == 0.2 and abs(hit.arrived - 1000.05) < 1e-9


def run(tool, seconds, pages=100, cpu=None, rss=None, first=None, note=""):
    return ToolRun(tool, seconds, pages, pages + 2, cpu, rss, first, note)


def test_summaries_are_medians_per_tool_in_order_of_appearance():
    runs = [run("ours", 10, cpu=2.0, rss=100), run("linkinator 7", 30, cpu=6.0, rss=200), run("ours", 12, cpu=2.4, rss=110),
            run("ours", 11, cpu=3.0, rss=90), run("linkinator 7", 20, cpu=4.0, rss=210)]  # fmt: skip
    ours, theirs = summarise(runs)
    assert (ours.tool, ours.runs, ours.seconds_median, ours.seconds) == ("ours", 3, 11, "11.0 (10.0–12.0)")
    assert ours.cpu_ms_per_page == 24.0 and ours.peak_rss_mb == 100 and ours.pages_per_second == pytest.approx(100 / 11)
    assert theirs.seconds_median == 25 and theirs.peak_rss_mb == 205


def test_tree_table_divides_wall_time_by_linkinators():
    runs = [run("ours (CRAWL_PROCESSES=2)", 10, cpu=1.0, rss=120), run("linkinator 7.6.1", 25, cpu=2.0, rss=200, note="its own count: 7"),
            run("ours via the service", 15, first=2.5), run("wget", 5, cpu=0.5, rss=50)]  # fmt: skip
    table = tree_table("python: a tree", runs, "linkinator")
    lines = table.splitlines()
    assert lines[0] == "**python: a tree**"
    ours = next(line for line in lines if line.startswith("| ours (CRAWL"))
    cells = [cell.strip() for cell in ours.strip("|").split("|")]
    assert cells == ["ours (CRAWL_PROCESSES=2)", "10.0", "100", "102", "10", "10.00", "120", "0.40", ""]
    service = next(line for line in lines if line.startswith("| ours via"))
    assert "| n/a | n/a | 0.60 | 2.50 |" in service
    assert "- linkinator 7.6.1: its own count: 7" in lines


def test_tree_table_without_linkinator_has_no_ratio():
    assert "| n/a |" in tree_table("t", [run("ours", 10, cpu=1.0, rss=1)], "linkinator")


def test_spread():
    assert spread([]) == "n/a" and spread([None]) == "n/a" and spread([2.0]) == "2.0"
    assert spread([3.0, 1.0, 2.0], 2) == "2.00 (1.00–3.00)"


def test_batch_figures_span_from_first_post_to_last_completion():
    jobs = [JobTiming("a", 100, 0.0, 10.0, "completed"), JobTiming("b", 300, 1.0, 21.0, "completed"),
            JobTiming("c", 50, 2.0, 5.0, "failed")]  # fmt: skip
    figures = batch_figures(jobs)
    assert figures["pages"] == 450 and figures["span"] == 21.0 and figures["pages_per_second"] == pytest.approx(450 / 21)
    assert figures["job_seconds"] == [3.0, 10.0, 20.0] and figures["not_completed"] == 1
    assert batch_figures([])["pages_per_second"] is None


def test_many_table_has_a_row_per_way():
    jobs = [JobTiming("a", 100, 0.0, 10.0, "completed"), JobTiming("b", 100, 0.0, 20.0, "completed")]
    table = many_table(jobs, jobs, {"rss_mb": 512.4, "pss_mb": 300.0, "processes": 4}, None)
    at_once, one_by_one = table.splitlines()[2:]
    assert at_once.startswith("| 2 jobs at once | 2 (0) | 200 | 20.0 | 10 | 15.0 (10.0–20.0) | 512 | 300 | 4 |")
    assert one_by_one.endswith("| n/a | n/a | n/a |")


def test_site_sizes_are_distinct_and_span_the_range():
    sizes = site_sizes(20)
    assert len(set(sizes)) == 20 and sizes[0] == 50 and sizes[-1] == 500 and sizes == sorted(sizes)
    assert site_sizes(1) == [500]


def test_smaps_rollup():
    text = ("55d0c0000000-7ffd0f1fe000 ---p 00000000 00:00 0  [rollup]\nRss:              123456 kB\n"
            "Pss:               65432 kB\nPss_Anon:          40000 kB\nShared_Clean:      50000 kB\n")  # fmt: skip
    assert parse_smaps_rollup(text) == (123456, 65432)
    assert parse_smaps_rollup("") == (0, 0)


def test_tools_take_turns_first_from_run_to_run():
    tools_ = ["ours", "service", "linkinator", "wget"]
    assert [rotated(tools_, run)[0] for run in (1, 2, 3, 4, 5)] == ["ours", "service", "linkinator", "wget", "ours"]
    assert sorted(rotated(tools_, 3)) == sorted(tools_)


def test_prefixed_tree_is_served_under_its_install_path(tmp_path):
    block = server_block(Site(8123, tmp_path, "/usr/share/doc/python3-doc/html/", access_log=tmp_path / "a.log"))
    assert "location = / { return 302 /usr/share/doc/python3-doc/html/; }" in block
    assert f"location /usr/share/doc/python3-doc/html/ {{ alias {tmp_path.resolve()}/; }}" in block
    assert "listen 127.0.0.1:8123;" in block and f"access_log {tmp_path / 'a.log'} bench;" in block
    plain = server_block(Site(1, tmp_path))
    assert f"location / {{ alias {tmp_path.resolve()}/; }}" in plain and "access_log" not in plain and "js_" not in plain


def test_slow_origin_holds_pages_through_njs_and_serves_the_same_file(tmp_path):
    block = server_block(Site(1, tmp_path, "/docs/", delay=True))
    assert f"location /docs/ {{ alias {tmp_path.resolve()}/; location ~ (/|\\.html)$ {{ js_content slow_origin.hold; }} }}" in block
    assert f"location /__held/docs/ {{ internal; alias {tmp_path.resolve()}/; }}" in block
    conf = render(tmp_path, [Site(1, tmp_path, delay=True), Site(2, tmp_path)])
    assert conf.startswith("load_module ") and "js_import slow_origin from " in conf and conf.count("js_content") == 1
    assert "load_module" not in render(tmp_path, [Site(2, tmp_path)])


def test_hold_is_fixed_per_uri_between_50_and_300_ms_for_pages_only():
    holds = [hold_ms(f"/page-{n}.html") for n in range(2000)]
    assert min(holds) >= 50 and max(holds) <= 300 and 150 < sum(holds) / len(holds) < 200
    assert hold_ms("/sql.html") == 68 and hold_ms("/") == 174  # what nginx's slow_origin.js held them
    assert hold_ms("/robots.txt") == 0 and hold_ms("/sitemap.xml") == 0


def test_command_line_selects_parts_and_trees():
    args = parse_args(["--only", "real", "--trees", "python,synthetic", "--runs", "1"])
    assert args.only == ["real"] and args.trees == ["python", "synthetic"] and args.runs == 1
    assert parse_args([]).only == ["crawl", "api", "real", "slow", "many", "fleet", "changes"]
    with pytest.raises(SystemExit):
        parse_args(["--trees", "python,nosuchtree"])


def test_in_flight_at_the_origin_counts_requests_served_at_each_arrival():
    from bench.accesslog import Hit
    from bench.inflight import in_flight

    def hit(end, duration, uri):
        return Hit(end, 200, "GET", uri, "text/html", duration)

    tree = {"/": None, "/a": "/", "/b": "/", "/c": "/a"}
    # "/" 0.0-0.1; "/a" and "/b" 0.1-0.2 (known when "/" ended); "/c" 0.2-0.3
    flight = in_flight([hit(0.1, 0.1, "/"), hit(0.2, 0.1, "/a"), hit(0.2, 0.1, "/b"), hit(0.3, 0.1, "/c")], tree, 2)
    assert (flight.median, flight.peak) == (1.5, 2)  # 1, 2, 2, 1; an answer ending as a request arrives frees its slot
    assert flight.median_when_known == 2 and flight.arrivals_when_known == 2  # at 0.1: /a and /b known
    late = in_flight([hit(0.1, 0.1, "/"), hit(0.3, 0.1, "/a"), hit(0.4, 0.1, "/b")], tree, 2)  # one at a time
    assert late.median == 1 and late.median_when_known == 1 and late.peak == 1


def test_ideal_crawl_follows_the_tree_and_the_concurrency():
    from bench.inflight import ideal_seconds

    tree = {"/": None, "/a": "/", "/b": "/", "/c": "/a", "/d": "/a"}
    latency = {"/": 0.1, "/a": 0.2, "/b": 0.1, "/c": 0.1, "/d": 0.3}.get
    assert ideal_seconds(tree, latency, 1) == pytest.approx(0.8)  # one at a time: the sum
    assert ideal_seconds(tree, latency, 2) == pytest.approx(0.6)  # / ; a,b ; c,d after a at 0.3: d ends 0.6
    assert ideal_seconds(tree, latency, 10) == pytest.approx(0.6)  # the tree's longest path


def test_a_crawls_concurrency_is_shared_by_its_processes_not_multiplied():
    from crawler.roles import split_concurrency

    assert split_concurrency(20, 34, 1) == (7, 13)
    assert split_concurrency(100, 34, 1) == (34, 66)
    assert split_concurrency(20, 34, 3) == (7, 4)  # 7 + 3 x 4 <= 20
    assert split_concurrency(2, 34, 1) == (1, 1)
    assert split_concurrency(1, 34, 1) == (1, 0)  # too small to share: no workers
    for concurrency in range(1, 101):
        for workers in (1, 2, 3):
            own, each = split_concurrency(concurrency, 34, workers)
            assert own >= 1 and own + workers * each <= concurrency
