/*-------------------------------------------------------------------------
 *
 * draw.c
 *		sg_draw: a compiled graph as a Mermaid flowchart (as LangGraph's
 *		draw_mermaid) or a Graphviz dot digraph. Conditional edges are
 *		dashed and labelled with their path_map keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sg_draw);

typedef struct Drawer
{
	StringInfo	buf;
	bool		dot;
} Drawer;

/* Text inside a quoted dot string: quotes and backslashes escaped, a newline as dot's \n. */
void
sg_dot_escape(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		if (*s == '\n')
		{
			appendStringInfoString(buf, "\\n");
			continue;
		}
		if (*s == '"' || *s == '\\')
			appendStringInfoChar(buf, '\\');
		appendStringInfoChar(buf, *s);
	}
}

/* A name as a quoted dot identifier. */
void
sg_dot_quote(StringInfo buf, const char *s)
{
	appendStringInfoChar(buf, '"');
	sg_dot_escape(buf, s);
	appendStringInfoChar(buf, '"');
}

/*
 * Words of Mermaid's flowchart syntax that end or change the diagram when
 * they stand alone as a node id (a node named "end" closes a subgraph that
 * was never opened): mermaid.parse() rejects each of these.
 */
static const char *const mermaid_keywords[] = {
	"end", "graph", "flowchart", "subgraph", "style", "linkStyle", "classDef",
	"class", "call", "href", "interpolate", "_self", "_blank", "_parent", "_top",
	"click"						/* "click a --> b" is a click directive on node "-->" */
};

/* Letters, digits and '_' only, and no Mermaid keyword: such a name is its own Mermaid id and label. */
static bool
plain_name(const char *s)
{
	const char *c;
	size_t		i;

	for (c = s; *c; c++)
		if (!isalnum((unsigned char) *c) && *c != '_')
			return false;
	for (i = 0; i < lengthof(mermaid_keywords); i++)
		if (strcmp(s, mermaid_keywords[i]) == 0)
			return false;
	return true;
}

/*
 * A name as a Mermaid node id, one id per name: a plain name as it is,
 * any other as "x-" and its bytes in hex (plain names have no '-').
 */
void
sg_mermaid_id(StringInfo buf, const char *s)
{
	if (plain_name(s))
	{
		appendStringInfoString(buf, s);
		return;
	}
	appendStringInfoString(buf, "x-");
	for (; *s; s++)
		appendStringInfo(buf, "%02x", (unsigned char) *s);
}

/*
 * Text for a Mermaid label: ASCII punctuation as entity codes (#34; for '"'),
 * so none ends the label. Mermaid's lexer takes any line holding "direction",
 * white space and TB, TD, BT, RL or LR for a direction statement, whatever
 * comes before it on the line (the node or edge of that line is lost): the
 * "n" of "direction" is written as #110; so that the word never appears.
 */
void
sg_mermaid_text(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (strncmp(s, "direction", 9) == 0)
		{
			appendStringInfoString(buf, "directio#110;");
			s += 8;
			continue;
		}
		if (c >= 0x80 || isalnum(c) || c == '_' || c == ' ' || c == '-')
			appendStringInfoChar(buf, c);
		else
			appendStringInfo(buf, "#%d;", c);
	}
}

/* One edge; a conditional one dashed, with its path_map key as label when it is not the target's name. */
static void
edge(Drawer *d, const char *from, const char *to, bool conditional, const char *label)
{
	if (d->dot)
	{
		appendStringInfoString(d->buf, "\t");
		sg_dot_quote(d->buf, from);
		appendStringInfoString(d->buf, " -> ");
		sg_dot_quote(d->buf, to);
		if (conditional)
		{
			appendStringInfoString(d->buf, " [style=dashed");
			if (label)
			{
				appendStringInfoString(d->buf, ", label=");
				sg_dot_quote(d->buf, label);
			}
			appendStringInfoChar(d->buf, ']');
		}
		appendStringInfoString(d->buf, ";\n");
		return;
	}
	appendStringInfoString(d->buf, "\t");
	sg_mermaid_id(d->buf, from);
	if (!conditional)
		appendStringInfoString(d->buf, " --> ");
	else if (label)
	{
		appendStringInfoString(d->buf, " -. &nbsp;");
		sg_mermaid_text(d->buf, label);
		appendStringInfoString(d->buf, "&nbsp; .-> ");
	}
	else
		appendStringInfoString(d->buf, " -.-> ");
	sg_mermaid_id(d->buf, to);
	appendStringInfoString(d->buf, ";\n");
}

/* One node: __start__ and __end__ as ovals, the others as rounded boxes. */
static void
node_decl(Drawer *d, const char *name, int kind)	/* kind: 0 node, 1 start, 2 end */
{
	if (d->dot)
	{
		appendStringInfoString(d->buf, "\t");
		sg_dot_quote(d->buf, name);
		if (kind == 0)
			appendStringInfoString(d->buf, ";\n");
		else
			appendStringInfo(d->buf, " [shape=oval, fillcolor=\"%s\"];\n", kind == 1 ? "#ffffff" : "#bfb6fc");
		return;
	}
	appendStringInfoString(d->buf, "\t");
	sg_mermaid_id(d->buf, name);
	if (kind == 0 && plain_name(name))
		appendStringInfo(d->buf, "(%s)\n", name);
	else if (kind == 0)
	{
		appendStringInfoString(d->buf, "(\"");
		sg_mermaid_text(d->buf, name);
		appendStringInfoString(d->buf, "\")\n");
	}
	else
		appendStringInfo(d->buf, "([<p>%s</p>]):::%s\n", name, kind == 1 ? "first" : "last");
}

/* Every edge of a conditional branch: its path_map, or every node and __end__. */
static void
branch_edges(Drawer *d, SGGraph *g, SGNode *src, SGBranch *br, bool *uses_end)
{
	int			i;

	if (br->path_map == NULL)
	{
		for (i = 1; i < g->nnodes; i++)
			edge(d, src->name, g->nodes[i].name, true, NULL);
		edge(d, src->name, SG_END_NAME, true, NULL);
		*uses_end = true;
		return;
	}
	if (sg_jsonb_is_array(br->path_map))
	{
		for (i = 0; i < sg_jsonb_array_length(br->path_map); i++)
		{
			char	   *to = sg_jsonb_as_cstring(sg_jsonb_array_get(br->path_map, i));

			edge(d, src->name, to, true, NULL);
			*uses_end = *uses_end || strcmp(to, SG_END_NAME) == 0;
		}
		return;
	}
	{
		JsonbIterator *it = JsonbIteratorInit(&br->path_map->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE)
			{
				char	   *to = pnstrdup(v.val.string.val, v.val.string.len);

				edge(d, src->name, to, true, strcmp(key, to) == 0 ? NULL : key);
				*uses_end = *uses_end || strcmp(to, SG_END_NAME) == 0;
			}
		}
	}
}

/* sg_draw(graph, format): the compiled graph as Mermaid or dot text. */
Datum
sg_draw(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	bool		dot = sg_arg_choice(fcinfo, 1, "format", "mermaid", "dot");
	StringInfoData buf;
	StringInfoData edges;
	Drawer		d;
	SGGraph    *g;
	bool		uses_end = false;
	int			i,
				j,
				k;

	g = sg_graph_get(graph);

	initStringInfo(&buf);
	initStringInfo(&edges);
	d.dot = dot;
	d.buf = &edges;
	for (i = 0; i < g->nnodes; i++)
	{
		SGNode	   *n = &g->nodes[i];

		for (j = 0; j < n->nedges; j++)
		{
			edge(&d, n->name, n->edges[j] == SG_END ? SG_END_NAME : g->nodes[n->edges[j]].name, false, NULL);
			uses_end = uses_end || n->edges[j] == SG_END;
		}
		for (j = 0; j < n->nbranches; j++)
			branch_edges(&d, g, n, &n->branches[j], &uses_end);
	}
	for (i = 0; i < g->njoins; i++)
	{
		SGJoin	   *jn = &g->joins[i];

		for (k = 0; k < jn->nsources; k++)
			edge(&d, g->nodes[jn->sources[k]].name,
				 jn->target == SG_END ? SG_END_NAME : g->nodes[jn->target].name, false, NULL);
		uses_end = uses_end || jn->target == SG_END;
	}

	d.buf = &buf;
	if (d.dot)
	{
		appendStringInfoString(&buf, "digraph ");
		sg_dot_quote(&buf, graph);
		appendStringInfoString(&buf, " {\n\trankdir=TB;\n"
							   "\tnode [shape=box, style=\"rounded,filled\", fillcolor=\"#f2f0ff\", fontname=\"Helvetica\"];\n"
							   "\tedge [fontname=\"Helvetica\", fontsize=10];\n");
	}
	else
		appendStringInfoString(&buf, "---\nconfig:\n  flowchart:\n    curve: linear\n---\ngraph TD;\n");
	node_decl(&d, SG_START_NAME, 1);
	for (i = 1; i < g->nnodes; i++)
		node_decl(&d, g->nodes[i].name, 0);
	if (uses_end)
		node_decl(&d, SG_END_NAME, 2);
	appendStringInfoString(&buf, edges.data);
	if (d.dot)
		appendStringInfoString(&buf, "}\n");
	else
		appendStringInfoString(&buf, "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
							   "\tclassDef first fill-opacity:0\n"
							   "\tclassDef last fill:#bfb6fc\n");
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}
