/*-------------------------------------------------------------------------
 *
 * draw_history.c
 *		sg_draw_history: a thread's checkpoints as a tree, in Mermaid or
 *		Graphviz dot, as LangGraph Studio shows a thread's history.
 *
 * Time travel, update_state and forks turn a thread's history into a tree
 * that rows of ids and parent ids make hard to read. Each checkpoint is
 * drawn as a box saying its step and source, the nodes whose writes made
 * it, what runs next, and what stopped there (an error, an interrupt, tasks
 * still waiting to run); an edge goes from each checkpoint to each of its
 * children. A checkpoint with two children is where the history branches:
 * the edge to a fork (time travel) is dashed, the edge to an update is
 * labelled, and both boxes have colours of their own. The head, the
 * checkpoint the thread goes on from, has a thick border.
 *
 * The rows come from history.c (sg_history_rows, newest first, with the
 * same "limit" as sg_get_state_history) and are drawn oldest first, so
 * output and numbering follow creation order: box c1 is the oldest drawn
 * checkpoint. Checkpoint ids are random, so they never serve as box ids;
 * each box carries its id as a comment (Mermaid) or tooltip (dot) instead.
 *
 * What is not drawn gets no edge. A parent removed by sg_prune leaves its
 * children as roots. A parent left out by "limit" is still stored: such
 * children hang from one "older checkpoints" box. A fork whose parent lives
 * in another thread (sg_fork, sg_update_state with another thread's
 * checkpoint) hangs from a grey box naming that thread and its checkpoint,
 * when that checkpoint still exists and is visible to the caller.
 *
 * Text from users (node and thread names, error messages, interrupt
 * values) goes through draw.c's escaping, and long values are shortened.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sg_draw_history);

#define SG_LABEL_VALUE_MAX	40		/* bytes of an interrupt value or error message shown */

/* What a box is: its colour, and its class in Mermaid. */
typedef enum HistKind
{
	HK_INPUT,
	HK_LOOP,
	HK_FORK,
	HK_UPDATE,
	HK_WAITING,
	HK_INTERRUPT,
	HK_ERROR,
	HK_OTHER					/* a checkpoint of another thread */
} HistKind;

static const char *const kind_names[] = {"input", "loop", "fork", "update", "waiting", "interrupt", "error", "other"};
static const char *const kind_fills[] = {"#ffffff", "#f2f0ff", "#dcebff", "#fff1d6", "#e3f4e6", "#fff6a8", "#ffd6d6", "#eeeeee"};

typedef struct HistBox
{
	SGCheckpoint *cp;
	int			parent;			/* index of its parent among the drawn boxes, or -1 */
	bool		has_child;		/* some drawn checkpoint has it as parent */
	Jsonb	   *child_writes;	/* writes of its first loop child: its tasks' results */
} HistBox;

typedef struct HistDrawing
{
	StringInfo	buf;
	bool		dot;
	SGThread   *th;
	int			limit;			/* -1: none */
	bool		truncated;		/* older checkpoints were left out by limit */
	int			n;
	HistBox    *boxes;			/* oldest first */
	int			nother;			/* boxes drawn for checkpoints of other threads */
	bool		older_drawn;
} HistDrawing;

/* Index of the drawn box of checkpoint id, or -1 (boxes are sorted by id). */
static int
box_index(HistDrawing *d, const pg_uuid_t *id)
{
	int			lo = 0,
				hi = d->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = memcmp(d->boxes[mid].cp->id.data, id->data, UUID_LEN);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Fixed text of a label: ours, so nothing in it needs escaping. */
static void
label_fixed(HistDrawing *d, StringInfo l, const char *s)
{
	(void) d;
	appendStringInfoString(l, s);
}

/* User text in a label: shortened to max bytes (0: whole), then escaped for the format. */
static void
label_user(HistDrawing *d, StringInfo l, const char *text, int max)
{
	const char *s = text ? text : "?"; /* not a string where one belongs: a row changed by SQL */
	int			len = strlen(s);
	bool		shorten = max > 0 && len > max;
	char	   *cut = shorten ? pnstrdup(s, pg_mbcliplen(s, len, max - 3)) : (char *) s;

	if (d->dot)
		sg_dot_escape(l, cut);
	else
		sg_mermaid_text(l, cut);
	if (shorten)
		appendStringInfoString(l, "...");
}

/* A line break inside a label. */
static void
label_break(HistDrawing *d, StringInfo l)
{
	appendStringInfoString(l, d->dot ? "\\n" : "<br>");
}

/* "name, name": the names of an array of strings, or of [name, value] pairs. */
static void
label_names(HistDrawing *d, StringInfo l, Jsonb *arr, bool pairs)
{
	int			i;

	for (i = 0; i < sg_jsonb_array_length(arr); i++)
	{
		Jsonb	   *e = sg_jsonb_array_get(arr, i);

		if (i > 0)
			label_fixed(d, l, ", ");
		label_user(d, l, sg_jsonb_as_cstring(pairs ? sg_jsonb_array_get(e, 0) : e), 0);
	}
}

/* Whether a task field holds something: neither missing nor JSON null. */
static bool
present(Jsonb *v)
{
	return v != NULL && !sg_jsonb_is_scalar(v, jbvNull);
}

/* A jsonb value as short text: a string as it is, anything else as JSON. */
static const char *
short_value(Jsonb *v)
{
	if (v == NULL)
		return "null";
	if (sg_jsonb_is_scalar(v, jbvString))
		return sg_jsonb_as_cstring(v);
	return JsonbToCString(NULL, &v->root, VARSIZE(v));
}

/*
 * The lines saying what stopped at a checkpoint: errors and interrupts of
 * its tasks, static interrupts, and tasks still waiting to run (a
 * checkpoint nothing follows yet, unless a static interrupt already says
 * why they wait). Returns the kind of box this makes.
 */
static HistKind
label_tasks(HistDrawing *d, StringInfo l, HistBox *b, HistKind kind)
{
	Jsonb	   *interrupts;
	Jsonb	   *tasks = sg_task_list(b->cp, b->child_writes, &interrupts);
	Jsonb	   *statics = sg_static_interrupts(b->cp->meta);
	int			i,
				j,
				waiting = 0;

	for (i = 0; i < sg_jsonb_array_length(tasks); i++)
	{
		Jsonb	   *t = sg_jsonb_array_get(tasks, i);
		char	   *name = sg_jsonb_get_cstring(t, "name");
		Jsonb	   *error = sg_jsonb_get(t, "error");
		Jsonb	   *its = sg_jsonb_get(t, "interrupts");

		if (present(error))
		{
			label_break(d, l);
			label_fixed(d, l, "ERROR in ");
			label_user(d, l, name, 0);
			label_fixed(d, l, ": ");
			label_user(d, l, short_value(sg_jsonb_is_object(error) ? sg_jsonb_get(error, "message") : error),
					   SG_LABEL_VALUE_MAX);
			kind = HK_ERROR;
		}
		for (j = 0; j < sg_jsonb_array_length(its); j++)
		{
			label_break(d, l);
			label_fixed(d, l, "INTERRUPT in ");
			label_user(d, l, name, 0);
			label_fixed(d, l, ": ");
			label_user(d, l, short_value(sg_jsonb_get(sg_jsonb_array_get(its, j), "value")), SG_LABEL_VALUE_MAX);
			kind = kind == HK_ERROR ? kind : HK_INTERRUPT;
		}
		if (!b->has_child && statics == NULL && !present(error) && sg_jsonb_array_length(its) == 0 &&
			!present(sg_jsonb_get(t, "result")))
		{
			label_fixed(d, l, waiting++ == 0 ? (d->dot ? "\\nwaiting: " : "<br>waiting: ") : ", ");
			label_user(d, l, name, 0);
		}
	}
	for (j = 0; j < sg_jsonb_array_length(statics); j++)
	{
		Jsonb	   *s = sg_jsonb_array_get(statics, j);

		label_break(d, l);
		label_fixed(d, l, "INTERRUPT ");
		label_user(d, l, sg_jsonb_get_cstring(s, "when"), 0);
		label_fixed(d, l, " ");
		label_user(d, l, sg_jsonb_get_cstring(s, "node"), 0);
		kind = kind == HK_ERROR ? kind : HK_INTERRUPT;
	}
	if (waiting > 0 && kind != HK_ERROR && kind != HK_INTERRUPT)
		kind = HK_WAITING;
	return kind;
}

/* The kind of box a checkpoint's source makes, before what stopped there. */
static HistKind
source_kind(const char *source)
{
	if (strcmp(source, "input") == 0)
		return HK_INPUT;
	if (strcmp(source, "fork") == 0)
		return HK_FORK;
	if (strcmp(source, "update") == 0)
		return HK_UPDATE;
	return HK_LOOP;
}

/* One box: its id, label and look. */
static void
emit_box(HistDrawing *d, const char *id, const char *label, HistKind kind, bool head,
		 const pg_uuid_t *cpid)
{
	if (d->dot)
	{
		appendStringInfo(d->buf, "\t%s [label=\"%s\", fillcolor=\"%s\"", id, label, kind_fills[kind]);
		if (kind == HK_OTHER)
			appendStringInfoString(d->buf, ", style=\"rounded,filled,dashed\", color=\"#888888\"");
		if (head)
			appendStringInfoString(d->buf, ", penwidth=3, color=\"#5b3fd9\"");
		if (cpid != NULL)
			appendStringInfo(d->buf, ", tooltip=\"%s\"", sg_uuid_to_cstring(cpid));
		appendStringInfoString(d->buf, "];\n");
		return;
	}
	if (cpid != NULL)
		appendStringInfo(d->buf, "\t%%%% %s: %s\n", id, sg_uuid_to_cstring(cpid));
	appendStringInfo(d->buf, "\t%s[\"%s\"]:::%s\n", id, label, kind_names[kind]);
	if (head)
		appendStringInfo(d->buf, "\tclass %s head\n", id);
}

/* The box of a checkpoint of the thread. */
static void
draw_checkpoint(HistDrawing *d, int i)
{
	HistBox    *b = &d->boxes[i];
	SGCheckpoint *cp = b->cp;
	bool		head = d->th->has_head && memcmp(&d->th->head, &cp->id, sizeof(pg_uuid_t)) == 0;
	StringInfoData l;
	HistKind	kind = source_kind(cp->source);
	char		id[16];

	initStringInfo(&l);
	if (head)
	{
		label_fixed(d, &l, "HEAD (");
		label_user(d, &l, d->th->status, 0);
		label_fixed(d, &l, ")");
		label_break(d, &l);
	}
	appendStringInfo(&l, "step %d, %s", cp->step, cp->source);
	/* a fork copies its checkpoint, an input starts a run: no node ran to make them */
	if (sg_jsonb_array_length(cp->writes) > 0 && kind != HK_FORK && kind != HK_INPUT)
	{
		label_break(d, &l);
		label_fixed(d, &l, strcmp(cp->source, "update") == 0 ? "as: " : "ran: ");
		label_names(d, &l, cp->writes, true);
	}
	label_break(d, &l);
	label_fixed(d, &l, "next: ");
	if (cp->nnext == 0)
		label_fixed(d, &l, "(none)");
	else
		label_names(d, &l, sg_text_array_to_jsonb(cp->nnext, cp->next), false);
	kind = label_tasks(d, &l, b, kind);
	snprintf(id, sizeof(id), "c%d", i + 1);
	emit_box(d, id, l.data, kind, head, &cp->id);
}

/* An edge; style: 0 plain, 1 dashed, 2 dotted (to what is not drawn). */
static void
emit_edge(HistDrawing *d, const char *from, const char *to, const char *label, int style)
{
	if (d->dot)
	{
		appendStringInfo(d->buf, "\t%s -> %s", from, to);
		if (style != 0 || label != NULL)
		{
			appendStringInfo(d->buf, " [style=%s", style == 0 ? "solid" : style == 1 ? "dashed" : "dotted");
			if (label != NULL)
				appendStringInfo(d->buf, ", label=\" %s\"", label);
			appendStringInfoChar(d->buf, ']');
		}
		appendStringInfoString(d->buf, ";\n");
		return;
	}
	if (style == 0 && label == NULL)
		appendStringInfo(d->buf, "\t%s --> %s;\n", from, to);
	else if (style == 0)
		appendStringInfo(d->buf, "\t%s -- %s --> %s;\n", from, label, to);
	else if (label != NULL)
		appendStringInfo(d->buf, "\t%s -. %s .-> %s;\n", from, label, to);
	else
		appendStringInfo(d->buf, "\t%s -.-> %s;\n", from, to);
}

/*
 * The box of the checkpoint of another thread that box i was forked from,
 * and the edge from it; nothing when that checkpoint is gone or hidden.
 */
static void
draw_other_parent(HistDrawing *d, int i, const char *to)
{
	SGCheckpoint *cp = d->boxes[i].cp;
	SGCheckpoint *p = sg_checkpoint_fetch(cp->parent_thread, &cp->parent_id);
	StringInfoData l;
	char		id[16];

	if (p == NULL)
		return;
	initStringInfo(&l);
	label_fixed(d, &l, "thread ");
	label_user(d, &l, cp->parent_thread, 0);
	label_break(d, &l);
	appendStringInfo(&l, "step %d, %s", p->step, p->source);
	snprintf(id, sizeof(id), "o%d", ++d->nother);
	emit_box(d, id, l.data, HK_OTHER, false, &p->id);
	emit_edge(d, id, to, "fork", 1);
}

/* The edge into box i from its parent: drawn, left out by limit, in another thread, or gone. */
static void
draw_parent_edge(HistDrawing *d, int i)
{
	HistBox    *b = &d->boxes[i];
	char		to[16];

	snprintf(to, sizeof(to), "c%d", i + 1);
	if (!b->cp->has_parent)
		return;
	if (b->cp->parent_thread != NULL)
		draw_other_parent(d, i, to);
	else if (b->parent >= 0)
	{
		char		from[16];
		const char *src = b->cp->source;

		snprintf(from, sizeof(from), "c%d", b->parent + 1);
		if (strcmp(src, "fork") == 0)
			emit_edge(d, from, to, "fork", 1);
		else if (strcmp(src, "update") == 0 || strcmp(src, "input") == 0)
			emit_edge(d, from, to, src, 0);
		else
			emit_edge(d, from, to, NULL, 0);
	}
	else if (d->truncated && sg_checkpoint_fetch(d->th->thread_id, &b->cp->parent_id) != NULL)
	{
		if (!d->older_drawn)
		{
			char	   *label = psprintf("older checkpoints%snot drawn: limit %d",
										 d->dot ? "\\n" : "<br>", d->limit);

			emit_box(d, "older", label, HK_OTHER, false, NULL);
			d->older_drawn = true;
		}
		emit_edge(d, "older", to, NULL, 2);
	}
}

/* The opening lines of a drawing, and the closing ones. */
static void
draw_frame(HistDrawing *d, bool open)
{
	int			k;

	if (d->dot && open)
	{
		appendStringInfoString(d->buf, "digraph ");
		sg_dot_quote(d->buf, d->th->thread_id);
		appendStringInfoString(d->buf, " {\n\trankdir=TB;\n\tlabelloc=t;\n\tlabel=");
		sg_dot_quote(d->buf, psprintf("thread %s (graph %s, %s)", d->th->thread_id, d->th->graph, d->th->status));
		appendStringInfoString(d->buf, ";\n\tfontname=\"Helvetica\";\n"
							   "\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n"
							   "\tedge [fontname=\"Helvetica\", fontsize=10];\n");
	}
	else if (d->dot)
		appendStringInfoString(d->buf, "}\n");
	else if (open)
		appendStringInfoString(d->buf, "---\nconfig:\n  flowchart:\n    curve: linear\n---\ngraph TD;\n");
	else
	{
		for (k = 0; k <= HK_OTHER; k++)
			appendStringInfo(d->buf, "\tclassDef %s fill:%s%s\n", kind_names[k], kind_fills[k],
							 k == HK_OTHER ? ",stroke-dasharray:4 3" : "");
		appendStringInfoString(d->buf, "\tclassDef head stroke:#5b3fd9,stroke-width:3px\n");
	}
}

/* The drawn checkpoints, oldest first, each with its parent's box and its loop child's writes. */
static void
collect_boxes(HistDrawing *d, List *rows)
{
	int			i;

	d->n = list_length(rows);
	d->boxes = palloc0(sizeof(HistBox) * Max(d->n, 1));
	for (i = 0; i < d->n; i++)
		d->boxes[i].cp = (SGCheckpoint *) list_nth(rows, d->n - 1 - i);
	for (i = 0; i < d->n; i++)
	{
		HistBox    *b = &d->boxes[i];
		HistBox    *p;

		b->parent = (b->cp->has_parent && b->cp->parent_thread == NULL) ? box_index(d, &b->cp->parent_id) : -1;
		if (b->parent < 0)
			continue;
		p = &d->boxes[b->parent];
		p->has_child = true;
		if (strcmp(b->cp->source, "loop") == 0 && p->child_writes == NULL)
			p->child_writes = b->cp->writes ? b->cp->writes : sg_jsonb_empty_array();
	}
}

/* sg_draw_history(thread_id, format, limit): a thread's checkpoints as Mermaid or dot text. */
Datum
sg_draw_history(PG_FUNCTION_ARGS)
{
	HistDrawing d;
	pg_uuid_t	newest;
	List	   *rows;
	StringInfoData buf;
	int			i;
	char	   *thread_id = sg_arg_text(fcinfo, 0, "thread_id");
	bool		dot = sg_arg_choice(fcinfo, 1, "format", "mermaid", "dot");

	memset(&d, 0, sizeof(d));
	d.limit = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT32(2);
	if (!PG_ARGISNULL(2) && d.limit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("limit must not be negative"),
				 errhint("Pass NULL to draw every checkpoint of the thread.")));

	sg_spi_connect();
	d.th = sg_thread_fetch_required(thread_id, false);
	memset(newest.data, 0xFF, UUID_LEN);
	/* one row more than the limit tells whether older ones were left out */
	rows = sg_history_rows(thread_id, &newest, d.limit < 0 || d.limit == PG_INT32_MAX ? -1 : d.limit + 1, NULL);
	if (d.limit >= 0 && list_length(rows) > d.limit)
	{
		d.truncated = true;
		rows = list_truncate(rows, d.limit);
	}
	collect_boxes(&d, rows);

	initStringInfo(&buf);
	d.buf = &buf;
	d.dot = dot;
	draw_frame(&d, true);
	for (i = 0; i < d.n; i++)
		draw_checkpoint(&d, i);
	for (i = 0; i < d.n; i++)
		draw_parent_edge(&d, i);
	draw_frame(&d, false);
	sg_spi_finish();
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
