#!/usr/bin/python3
"""Reference worker for stategraph's external nodes.

A graph hands the work of an external node (a model or tool call) to
application workers through a queue. This worker:

  * waits for work with sg_claim(..., wait => ...) (a long poll that returns
    as soon as a task is committed), or, working several queues, claims each
    in turn (a round starts at the queue after the one served last) and waits
    for NOTIFY stategraph_tasks between rounds;
  * runs the handler registered for the task's node, with a heartbeat thread
    extending the lease meanwhile (and telling the handler to stop when the
    task was cancelled or went to another worker);
  * hands the update back with sg_complete, or reports sg_fail (retried by the
    server after the node's backoff), or asks a human with sg_interrupt_task;
  * on SIGTERM or SIGINT stops claiming, finishes the task in hand (waiting
    for a server that is down to hand it back) and exits 0; a long poll under way is cancelled (its claim rolled back, the task
    left queued) and a wait for NOTIFY ended, so an idle worker exits at
    once, whatever --wait is (SIGKILL is fine too: the lease lapses and
    another worker retries the task);
  * when its connection is lost (server restart, pg_terminate_backend), it
    connects again, backing off up to 10 s, and hands the task in hand back
    with the same token (a lease still running accepts it); started while
    the server is down or starting up, it waits for it the same way.

The LISTEN connection (only for several queues) is read every round: a
listener that is never read keeps the server's notification queue from being
truncated, and its backend ends up blocked writing to it.

External effects are at-least-once: a worker that dies after its model call
but before sg_complete gets the task done again by another worker. Pass
task["task_id"] (stable across attempts) downstream as an idempotency key.

Usage:
    /usr/bin/python3 examples/worker.py --dsn "dbname=app" --queue llm
Handlers are registered by node name with @handler("node"); this file ships
a deterministic fake model for the node "agent" (no network) and a few
handlers the test suite uses.
"""
import argparse
import json
import os
import random
import re
import select
import signal
import sys
import threading
import time

import psycopg

HANDLERS = {}


class Interrupt(Exception):
    """Raise to pause the thread and ask a human: value is the question."""

    def __init__(self, value):
        super().__init__("interrupt")
        self.value = value


class Fatal(Exception):
    """Raise for a failure that retrying cannot fix (sg_fail with retry false)."""


class Lost(Exception):
    """The task was cancelled or claimed by another worker: stop."""


def handler(node):
    """Register fn(task, ctx) -> update (a dict of channel values) for node."""
    def register(fn):
        HANDLERS[node] = fn
        return fn
    return register


class Context:
    """What a handler gets besides its task: a way to know it must stop."""

    def __init__(self):
        self.lost = threading.Event()

    def check(self):
        if self.lost.is_set():
            raise Lost()


class Heartbeat(threading.Thread):
    """Extends a task's lease every third of it while its handler runs.

    The first beat is due a third of the lease after the claim, so a task
    done sooner (most are) costs no heartbeat at all; the beats go through
    the worker's one heartbeat connection (Worker.beat), opened at the first
    beat and kept for the next tasks. A connection per task would make the
    server start a backend for every task: at tens of tasks a second per
    worker, enough to overflow the postmaster's queue of new connections
    on a busy machine, so that every client, this worker's main connection
    too, is refused ("Resource temporarily unavailable")."""

    def __init__(self, worker, task, ctx, every):
        super().__init__(daemon=True)
        self.worker, self.task, self.ctx, self.every = worker, task, ctx, every
        self.done = threading.Event()

    def run(self):
        # a lost connection (server restart) is opened again at the next beat,
        # soon: without beats the lease would lapse and the task go to another worker
        # A beat refused otherwise (EXECUTE on sg_heartbeat revoked, or the
        # role's membership in the thread's owner, for a while: 42501)
        # is tried again as soon too: the thread ended there, the lease
        # lapsed even once the grant was back, and another worker did the
        # task again. Said once per error, not at every try.
        pause = self.every
        said = None
        while not self.done.wait(pause):
            pause = self.every
            try:
                alive = self.worker.beat(self.task)
            except psycopg.OperationalError as e:
                if self.worker.beat_lost():
                    log(f"heartbeat of {self.task['task_id']}: {first_line(e)}; again")
                    pause = min(self.every, 1.0)
                    continue
                # a statement's own error (55P03 under lock_timeout, 57014, 40P01): a refusal, below
                if said != (e.sqlstate, first_line(e)):
                    said = (e.sqlstate, first_line(e))
                    log(f"heartbeat of {self.task['task_id']} refused ({e.sqlstate} {first_line(e)}): "
                        "trying again while the handler runs")
                pause = min(self.every, 1.0)
                continue
            except psycopg.Error as e:
                if said != (e.sqlstate, first_line(e)):
                    said = (e.sqlstate, first_line(e))
                    log(f"heartbeat of {self.task['task_id']} refused ({e.sqlstate} {first_line(e)}): "
                        "trying again while the handler runs")
                pause = min(self.every, 1.0)
                continue
            if said is not None:
                log(f"heartbeat of {self.task['task_id']} taken again")
                said = None
            if not alive:
                self.ctx.lost.set()
                return


def first_line(error):
    """The first line of an error's message (psycopg's span several)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def log(msg):
    print(f"[worker {os.getpid()}] {msg}", file=sys.stderr, flush=True)


MAX_WAIT = 24 * 86400       # the longest long poll sg_claim takes (its wait => ...), in seconds


def check_wait(wait):
    """wait (--wait) as seconds, if a long poll can take it: at least 1 ms
    (the server's unit) and at most 24 days (sg_claim's bound). Less is no
    wait at all: an idle worker would claim again at once, without end,
    thousands of transactions a second on a core of the server and one of
    its own; more, NaN or infinity would be refused by every claim."""
    wait = float(wait)
    if not (0.001 <= wait <= MAX_WAIT):
        raise ValueError(f"--wait must be between 0.001 and {MAX_WAIT} seconds (24 days), not {wait:g}: "
                         "it is how long an idle worker waits for work before it claims again")
    return wait


class Worker:
    def __init__(self, dsn, queues, name, wait, lease=None, sweep_every=5.0):
        wait = check_wait(wait)
        self.dsn, self.queues, self.name, self.wait, self.lease = dsn, queues, name, wait, lease
        self.sweep_every = sweep_every
        self.stopping = False
        self.stopped = threading.Event()
        self.polling = False                # a claim's query is under way on self.conn
        self.cancel_seen = False            # a claim was cancelled by someone else (logged once)
        self.wake_r, self.wake_w = os.pipe()  # readable once stopping: ends a wait for NOTIFY
        os.set_blocking(self.wake_w, False)
        self.handled = 0
        self.next_queue = 0                 # several queues: where the next round starts
        self.last_sweep = 0.0
        self.conn = self.listen = None
        self.beat_conn = None               # the heartbeats' connection, opened at the first beat
        self.beat_lock = threading.Lock()   # a finished task's beat may still be under way

    def beat(self, task):
        """Extends task's lease through the heartbeat connection: whether the
        worker may go on with it (false: cancelled, or claimed by another).
        With --lease, by that lease (extend => ...): a server that extends a
        beat without extend by the node's lease would otherwise cut a claim
        longer than the node's short at its first beat, and another worker
        would take the task over while its handler still runs."""
        with self.beat_lock:
            if self.beat_conn is None or self.beat_conn.closed:
                self.beat_conn = psycopg.connect(
                    self.dsn, autocommit=True, fallback_application_name="stategraph reference worker heartbeat")
            try:
                if self.lease is None:                   # claimed with the node's lease: the server's default
                    sql, args = "SELECT sg_heartbeat(%s, %s)", (task["task_id"], task["token"])
                else:                                    # --lease: each beat extends by it, never by less
                    sql, args = ("SELECT sg_heartbeat(%s, %s, %s::interval)",
                                 (task["task_id"], task["token"], self.lease))
                return self.beat_conn.execute(sql, args).fetchone()[0]
            except psycopg.OperationalError:
                # lost, the next beat connects again; a statement's own error
                # (lock_timeout, statement_timeout, a deadlock) keeps it: closed
                # so, every refused beat cost a new connection (a backend)
                if self.beat_lost():
                    self.beat_conn.close()
                raise

    def beat_lost(self):
        """Whether the heartbeat connection is gone (or was never opened)."""
        return self.beat_conn is None or self.beat_conn.closed

    def sweep(self, conn):
        """Find expired leases now and then: a long poll only requeues them, and
        recording a task whose attempts are spent as a node failure is left to
        this call (or to the server's background workers)."""
        if time.monotonic() - self.last_sweep >= self.sweep_every:
            self.last_sweep = time.monotonic()
            conn.execute("SELECT stategraph.sweep_leases()")

    def stop(self, *_):
        """SIGTERM, SIGINT (or --max-tasks): claim no more and finish the task in
        hand, but end a wait under way at once rather than after --wait."""
        self.stopping = True
        self.stopped.set()
        try:
            os.write(self.wake_w, b"x")
        except BlockingIOError:                      # written before: it is readable
            pass
        self.cancel_poll()

    def on_signals(self):
        """SIGTERM and SIGINT stop the worker; SIGALRM is cancel_poll's retry."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGALRM, self.cancel_poll)

    def cancel_poll(self, *_):
        """Cancels the claim under way, if any: its transaction rolls back, so a
        task it took stays queued. A signal that came just before the claim's
        query reached the server finds that backend idle, and the server ignores
        the cancel: so SIGALRM tries again shortly, until the claim is over.
        Only while stopping: a stray SIGALRM (kill -ALRM) is no stop, and its
        retries would cancel every poll after it. And only with on_signals()'s
        handler: an application that uses Worker without it keeps SIGALRM's
        default action, which would end the process."""
        if not (self.polling and self.stopping):
            return
        try:
            self.conn.cancel()
        except psycopg.Error:                        # the connection is lost: so is the claim
            pass
        if signal.getsignal(signal.SIGALRM) == self.cancel_poll:
            signal.setitimer(signal.ITIMER_REAL, 0.2)

    def claim(self, conn, queue, wait):
        self.polling = True                          # from here a signal cancels the claim
        try:
            if self.stopping:
                return []
            cur = conn.execute(
                "SELECT task_id, token, queue, graph, thread_id, node, step, attempt, input, config, resume, "
                "resume IS NOT NULL AS resumed, "
                "extract(epoch FROM lease_expires_at - clock_timestamp()) AS lease_left "
                "FROM sg_claim(%s, %s, 1, %s::interval, %s::interval)",
                (queue, self.name, self.lease, f"{wait:.3f} seconds"))
            cols = [d.name for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]
        except psycopg.errors.QueryCanceled as e:
            if self.stopping:
                return []                            # cancelled by stop(): nothing was claimed
            # cancelled by someone else (pg_cancel_backend, a statement_timeout
            # shorter than --wait): nothing was claimed either, so poll again,
            # after a pause, lest a timeout shorter than any claim make it spin
            if not self.cancel_seen:
                log(f"claim cancelled ({first_line(e)}): polling again (a statement_timeout "
                    f"shorter than --wait, {self.wait:g} s, cancels every idle long poll)")
                self.cancel_seen = True
            self.stopped.wait(0.1)
            return []
        finally:
            self.polling = False
            if self.stopping:
                signal.setitimer(signal.ITIMER_REAL, 0)

    def connect(self):
        """Opens the worker's connection, and a LISTEN one when it works several queues."""
        self.close()
        self.conn = psycopg.connect(self.dsn, autocommit=True,
                                    fallback_application_name="stategraph reference worker")
        if len(self.queues) > 1:
            self.listen = psycopg.connect(self.dsn, autocommit=True,
                                          fallback_application_name="stategraph reference worker listen")
            self.listen.execute("LISTEN stategraph_tasks")

    def close(self):
        for c in (self.conn, self.listen):
            if c is not None:
                try:
                    c.close()
                except psycopg.Error:
                    pass
        self.conn = self.listen = None

    def lost(self):
        """Whether a connection of the worker is gone (not a statement's own error)."""
        conns = [self.conn] + ([self.listen] if len(self.queues) > 1 else [])
        return any(c is None or c.closed for c in conns)

    def reconnect(self, error, finishing=False):
        """After a lost connection: connects again, backing off, until it
        works or SIGTERM (finishing: a task's hand-back waits, SIGTERM or not)."""
        if not self.lost():
            raise error
        log(f"connection lost ({first_line(error)}): connecting again")
        if not self.connect_backing_off(finishing):
            return False
        log("connected again")
        return True

    def connect_backing_off(self, finishing=False):
        """Connects, and while the server cannot be reached (down, starting
        up, in recovery: a worker started with it, or restarted while it
        restarts) tries again, backing off up to 10 s, until it works
        (True) or the worker stops (False; finishing: a task's hand-back,
        which waits for the server even then). The first failure is logged."""
        delay = 0.2
        said = False
        while finishing or not self.stopping:
            try:
                self.connect()
                return True
            except psycopg.OperationalError as e:
                self.close()
                if not said:
                    log(f"cannot connect ({first_line(e)}): trying again, backing off up to 10 s")
                    said = True
                if self.stopping:
                    time.sleep(delay)                # (stopped is set: its wait would not)
                else:
                    self.stopped.wait(delay)
                delay = min(delay * 2, 10.0)
        return False

    def notified(self, timeout):
        """Reads the LISTEN connection, waiting up to timeout for a NOTIFY: a
        listener that is never read keeps the server's notification queue."""
        ready, _, _ = select.select([self.listen.fileno(), self.wake_r], [], [], timeout)
        if self.listen.fileno() in ready:
            self.listen.execute("SELECT 1")          # takes in (and drops) what came

    def poll(self):
        """One round: the tasks claimed (a long poll on one queue, else each queue in turn)."""
        self.sweep(self.conn)
        if len(self.queues) == 1:
            return self.claim(self.conn, self.queues[0], self.wait)
        # each round starts at the queue after the one served last: a busy
        # first queue would otherwise starve the others
        n = len(self.queues)
        for i in range(n):
            k = (self.next_queue + i) % n
            tasks = self.claim(self.conn, self.queues[k], 0)
            if tasks:
                self.next_queue = (k + 1) % n
                self.notified(0)
                return tasks
        self.notified(self.wait)                     # idle: wake on NOTIFY
        return []

    def run(self):
        # a server not up yet is waited for, as after a lost connection:
        # died here, the worker was restarted at once by systemd or
        # Kubernetes, and soon given up (StartLimitBurst, CrashLoopBackOff)
        if not self.connect_backing_off():
            log("stopped before it could connect")
            return
        log(f"ready: queues {', '.join(self.queues)}")
        refused = 0                                  # polls refused in a row (not transiently)
        while not self.stopping:
            try:
                for task in self.poll():
                    self.handle(self.conn, task)
                refused = 0
            except psycopg.Error as e:
                if self.lost():
                    if not self.reconnect(e):
                        break
                    continue
                if transient(e.sqlstate or ""):
                    # a claim or sweep refused for now (lock_timeout, deadlock,
                    # statement_timeout of the sweep): nothing was taken, so poll again
                    log(f"poll refused ({e.sqlstate} {first_line(e)}): polling again in 1 s")
                    self.stopped.wait(1.0)
                    continue
                # refused otherwise (EXECUTE on sg_claim or sweep_leases revoked,
                # 42501; an extension being updated, 42883; a bad --lease, 22023):
                # nothing was taken either. The worker died of it, though a
                # grant given back would let it work again: it polls again,
                # backing off up to 10 s, one line of its log each time
                pause = min(2.0 ** refused, 10.0)
                refused += 1
                log(f"poll refused ({e.sqlstate} {first_line(e)}): polling again in {pause:g} s")
                self.stopped.wait(pause)
        self.close()
        with self.beat_lock:
            if self.beat_conn is not None:
                self.beat_conn.close()
        log(f"stopped after {self.handled} tasks")

    def handle(self, conn, task):
        fn = HANDLERS.get(task["node"])
        ctx = Context()
        lease_left = max(float(task.pop("lease_left") or 1), 0.3)
        beat = Heartbeat(self, task, ctx, lease_left / 3)
        beat.start()
        try:
            if fn is None:
                raise Fatal(f"no handler for node {task['node']!r}")
            update = fn(task, ctx)
            ctx.check()
            try:
                update = json.dumps(update)
            except Exception as e:          # retrying cannot fix it (TypeError, ValueError, RecursionError)
                raise Fatal(f"the update is not JSON: {message_of(e)}")
            done = ("SELECT sg_complete(%s, %s, %s)", (task["task_id"], task["token"], update))
        except Interrupt as i:
            try:
                done = ("SELECT sg_interrupt_task(%s, %s, %s)",
                        (task["task_id"], task["token"], json.dumps(i.value)))
            except Exception as e:          # retrying cannot fix it (TypeError, ValueError, RecursionError)
                done = failed(task, Fatal(f"the interrupt's value is not JSON: {message_of(e)}"))
        except Lost:
            log(f"task {task['task_id']} was cancelled or taken over: dropped")
            done = None
        except Exception as e:                                          # the handler failed
            done = failed(task, e)
        try:
            if done:                                                    # (not the handler's failure if this fails)
                try:
                    self.finish(conn, *done)
                except psycopg.OperationalError as e:                   # its connection lost, FINISH_TRIES times
                    if self.conn is not None and not self.conn.closed:
                        raise
                    log(f"task {task['task_id']}: connection lost before it was handed back "
                        f"({first_line(e)}): the task is left to its lease")
                    raise
        finally:
            beat.done.set()
            self.handled += 1

    def execute(self, sql, args):
        """Runs sql (a task's hand-back) on the worker's connection; a lost
        connection is opened again (backing off) and sql run again on the
        new one, up to FINISH_TRIES runs in all. A stop (SIGTERM) does not
        end that wait: the worker finishes the task in hand first, so it
        waits for a server that is down (SIGKILL ends it, the lease lapses).
        Stopping ended it, and the result, paid for, was dropped without a
        word, the log counting the task as handled."""
        for run in range(1, FINISH_TRIES + 1):
            try:
                self.conn.execute(sql, args)
                return
            except psycopg.OperationalError as e:
                if self.conn is not None and not self.conn.closed:
                    raise                            # the statement's own error (55P03, 40P01...)
                if run == FINISH_TRIES or not self.reconnect(e, finishing=True):
                    raise

    def finish(self, conn, sql, args):
        """Hands a task back (sg_complete, sg_interrupt_task or sg_fail): what
        the server refuses never ends the worker, and each refusal is one line
        of its log.
          * fenced (SG010, SG011, SG012): the task went elsewhere; dropped;
          * a transient error (transient()): rolled back (autocommit: the
            statement was its transaction) and run again, backing off, up to
            FINISH_TRIES times in all; then the task is handed back with an
            sg_fail that the server retries;
          * the result itself is bad (bad_result(): class 22, such as 22P05 for
            a NUL in a text, an invalid update SG003 / 42703 / 42804, or a
            state over jsonb's size 54000): it can never be stored, so the
            task fails without a retry (sg_fail(..., false)) with an error
            naming the SQLSTATE and the message; resuming the thread queues it
            again;
          * any other error: the task fails, retried as the node's retry says;
          * an sg_fail refused so (its error object not storable: sent again
            in ASCII; else still refused): the task is left to its lease,
            which lapses, and the server retries it.
        A lost connection is opened again and the call run again (execute():
        up to FINISH_TRIES runs, waiting for the server even once stopping);
        if that fails too, the error goes up to run(), which connects again."""
        task_id, token = args[0], args[1]
        call = sql.split()[1].split("(")[0]          # sg_complete, sg_interrupt_task or sg_fail
        tries = 0
        while True:
            tries += 1
            try:
                self.execute(sql, args)
                return
            except psycopg.Error as e:
                if self.conn is None or self.conn.closed:
                    raise                            # the connection is lost: run() connects again
                state = e.sqlstate or ""
                message = e.diag.message_primary or first_line(e)
                error = {"message": message, "sqlstate": state, "type": type(e).__name__}
                if e.diag.message_detail:
                    error["detail"] = e.diag.message_detail
                where = f"task {task_id}: {call} refused ({state} {message})"
            if state in ("SG010", "SG011", "SG012"):                 # fenced: another worker or a cancel
                log(f"{where}: dropped")
                return
            if transient(state) and tries < FINISH_TRIES:
                pause = min(0.25 * 2 ** (tries - 1), 2.0)
                log(f"{where}: again in {pause:g} s")
                time.sleep(pause)
                continue
            if call == "sg_fail":
                if state.startswith("22") and json_ascii(args[2]) != args[2]:
                    log(f"{where}: again with its error in ASCII")
                    args, tries = args[:2] + (json_ascii(args[2]),) + args[3:], 0
                    continue
                log(f"{where}: the task is left to its lease")
                return
            if bad_result(state):
                log(f"{where}: the result cannot be stored; the task fails without a retry")
                retry = False
            elif transient(state):
                log(f"{where} {tries} times: the task is handed back to be retried")
                retry = True
            else:
                log(f"{where}: the task fails (retried as its node says)")
                retry = True
            sql, args, call, tries = ("SELECT sg_fail(%s, %s, %s, %s)",
                                      (task_id, token, json.dumps(storable(error)), retry), "sg_fail", 0)


def message_of(e):
    """str(e), or, when that raises (an exception class whose __str__ has a
    bug), its type and why its message could not be read: raised while a
    task's failure was reported, it ended the worker with a traceback, the
    task left to its lease, and each retry ended the next worker."""
    try:
        return str(e)
    except Exception as why:
        try:
            why = f"{type(why).__name__}: {why}"
        except Exception:
            why = type(why).__name__
        return f"{type(e).__name__} (its message could not be read: {why})"


def failed(task, e):
    """The sg_fail of a handler's exception e: retried unless e is Fatal."""
    error = storable({"message": message_of(e), "type": type(e).__name__})
    return ("SELECT sg_fail(%s, %s, %s, %s)",
            (task["task_id"], task["token"], json.dumps(error), not isinstance(e, Fatal)))


FINISH_TRIES = 5            # runs of a transient refusal of a task's hand-back, the first included


def transient(state):
    """Whether a refusal of the server is one that running the call again may
    not meet: serialization failure, deadlock, lock_timeout, statement_timeout
    or a cancel, a server short of resources (class 53)."""
    return state in ("40001", "40P01", "55P03", "55006", "57014") or state.startswith("53")


def bad_result(state):
    """Whether a refusal says the result itself cannot be stored: a data
    exception (class 22: a NUL in a text, 22P05; a character the database's
    encoding lacks), an invalid update (SG003, an unknown channel 42703, a
    value a reducer refuses 42804), a state over jsonb's size (class 54)."""
    return state in ("SG003", "42703", "42804") or state[:2] in ("22", "54")


def storable(value):
    """value with every NUL of its strings replaced (U+FFFD): jsonb holds no NUL."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def json_ascii(text):
    """A JSON text with every string's characters outside ASCII as '?': for a
    database whose encoding refuses them (jsonb refuses \\u escapes of code
    points over 007F when the server encoding is not UTF8)."""
    def ascii_only(value):
        if isinstance(value, str):
            return value.encode("ascii", "replace").decode("ascii").replace("\x00", "?")
        if isinstance(value, dict):
            return {ascii_only(k): ascii_only(v) for k, v in value.items()}
        if isinstance(value, list):
            return [ascii_only(v) for v in value]
        return value
    return json.dumps(ascii_only(json.loads(text)))


# ---------------------------------------------------------------------------
# Handlers: a deterministic fake model (no network) and the test suite's ones
# ---------------------------------------------------------------------------
@handler("agent")
def fake_model(task, ctx):
    """A chat model that calls the calculator tool once per question, then answers."""
    messages = task["input"]["messages"]
    last = messages[-1]
    if last["role"] == "user":
        a, b = [int(x) for x in re.findall(r"-?\d+", last["content"])][:2]
        return {"messages": [{"role": "assistant", "content": "",
                              "tool_calls": [{"id": f"call-{task['task_id'][:8]}", "name": "add",
                                              "args": {"a": a, "b": b}}]}]}
    return {"messages": [{"role": "assistant", "content": f"The answer is {last['content']}."}]}


@handler("work")
def work(task, ctx):
    """The test suite's unit of work: a short random pause, then its input back."""
    time.sleep(random.uniform(0, float(os.environ.get("SG_WORK_MAX_SLEEP", "0.02"))))
    return {"done": [task["input"]["doc"]]}


@handler("ask")
def ask(task, ctx):
    """Asks a human once, then answers with what the human said."""
    if not task["resumed"]:                          # (an answer may be JSON null: resume None)
        raise Interrupt({"question": "go ahead?"})
    return {"answer": task["resume"]}


@handler("slow")
def slow(task, ctx):
    """Works for up to 20 s, stopping as soon as the heartbeat says the task is lost."""
    for _ in range(400):
        ctx.check()
        time.sleep(0.05)
    return {"answer": "slow"}


@handler("nap")
def nap(task, ctx):
    """Works SG_NAP seconds (default 1), then answers: a task held for a while."""
    time.sleep(float(os.environ.get("SG_NAP", "1")))
    return {"answer": f"nap {task['attempt']}"}


@handler("notjson")
def notjson(task, ctx):
    """Returns an update JSON cannot hold (a handler's bug: no retry)."""
    return {"answer": {1, 2}}


@handler("nul")
def nul(task, ctx):
    """Answers with a NUL in a text, which jsonb cannot hold (22P05): a model's output unchecked."""
    return {"answer": "model said a\x00b"}


@handler("nul_error")
def nul_error(task, ctx):
    """Fails with a NUL in its exception's message."""
    raise RuntimeError("model said a\x00b")


@handler("nul_question")
def nul_question(task, ctx):
    """Asks a human a question with a NUL in it (sg_interrupt_task refuses it: 22P05)."""
    raise Interrupt({"question": "a\x00b?"})


class Unprintable(Exception):
    """An exception whose message cannot be read: its str() raises."""

    def __str__(self):
        raise RuntimeError("no message set")


@handler("unprintable")
def unprintable(task, ctx):
    """Fails with an exception whose str() raises (a library's exception class with a bug)."""
    raise Unprintable()


@handler("deep_question")
def deep_question(task, ctx):
    """Asks a human a question nested deeper than json.dumps can write (RecursionError)."""
    value = []
    for _ in range(100000):
        value = [value]
    raise Interrupt(value)


@handler("flaky")
def flaky(task, ctx):
    """Fails its first attempt, succeeds on the second."""
    if task["attempt"] < 2:
        raise RuntimeError("model overloaded")
    return {"answer": f"attempt {task['attempt']}"}


def wait_arg(text):
    """--wait as argparse takes it: a usage error, not a worker that spins."""
    try:
        return check_wait(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--wait "))


def count_arg(text):
    """--max-tasks: a whole number of tasks, 0 for no limit."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}")
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, not {n}")
    return n


def seconds_arg(text):
    """--sweep-every: finite seconds, 0 or more (NaN would never sweep)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}")
    if not (0 <= v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, 0 or more, not {text}")
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dsn", default=os.environ.get("SG_DSN", ""))
    p.add_argument("--queue", action="append", required=True, help="queue to work (repeatable)")
    p.add_argument("--name", default=f"worker-{os.getpid()}")
    p.add_argument("--wait", type=wait_arg, default=2.0,
                   help="seconds a claim long-polls (0.001 to 24 days)")
    p.add_argument("--lease", default=None, help="lease per claim (default: the node's)")
    p.add_argument("--max-tasks", type=count_arg, default=0, help="exit after this many tasks (0: never)")
    p.add_argument("--sweep-every", type=seconds_arg, default=5.0, help="seconds between lease sweeps")
    args = p.parse_args()
    w = Worker(args.dsn, args.queue, args.name, args.wait, args.lease, args.sweep_every)
    w.on_signals()
    if args.max_tasks:
        orig = w.handle

        def counted(conn, task):
            orig(conn, task)
            if w.handled >= args.max_tasks:
                w.stop()
        w.handle = counted
    w.run()


if __name__ == "__main__":
    main()
