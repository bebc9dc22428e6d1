"""``tailmerge follow ... -o redis://HOST:PORT/STREAM``: ship the merge into a Redis Stream, exactly once.

The positions are read back from Redis at start (not from a local file), so a shipper restarted after a
crash goes on where its last transaction left the stream.
"""

from __future__ import annotations

import argparse
import socket
import sys

from ..options import Options
from ..run import make_run, run_to_end, troubled
from ..sinks.redis_sink import RedisSink
from ..state.checkpoint import Positions, forgettable
from ..streams.address import parse_address
from ..streams.client import StreamError, open_positions
from ..streams.protocol import Shipper
from .parser import UsageError
from .running import signals_stop

__all__ = ["run_ship"]


def run_ship(ns: argparse.Namespace, opts: Options, url: str) -> int:
    try:
        address = parse_address(url)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if ns.state is not None:
        raise UsageError("--state is for a file output: a Redis output keeps its positions in Redis")
    if ns.format != "raw" or ns.append:
        raise UsageError("--format and --append are for a file output: a stream's entries hold each line as it is")
    host = ns.host_name or socket.gethostname()
    try:
        committed = open_positions(address, host)
    except StreamError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    positions = Positions(committed.reads, committed.committed_at)
    shipper = Shipper(address.stream, host, ns.maxlen, committed.txn, forget=forgettable(committed.reads))
    sink = RedisSink(address, positions, shipper)
    run = make_run(ns.paths, opts, [sink], None, positions.ledger)
    try:
        with signals_stop(run):
            run_to_end(run)
    except StreamError as e:
        print(f"tailmerge: {e}", file=sys.stderr)
        return 1
    finally:
        sink.close()
    if run.unwritten:
        print(
            f"tailmerge: {address.server}: {run.unwritten} bytes of lines not shipped (the server was away); "
            "their positions were not committed: the next run ships them",
            file=sys.stderr,
        )
        return 1
    return 1 if not opts.follow and troubled(run) else 0
