/*-------------------------------------------------------------------------
 *
 * route.c
 *		Routing: where the tasks of a super-step lead. Plain edges, join
 *		edges (a target that waits for all its sources), conditional edges
 *		(a router function's answer, through its path_map) and Sends.
 *
 * sg_route sets a new checkpoint's next nodes (triggered nodes in name
 * order, then Sends in the order they were sent), its sends and its join
 * barriers: the sources each join has seen since it last fired, which
 * carry over from checkpoint to checkpoint. Each router sees the state
 * with only its own task's update applied, as in LangGraph. Both the
 * executor (after a step) and sg_update_state (after an update made "as"
 * a node) route this way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* What routing the tasks of one step has found so far. */
typedef struct Routing
{
	SGGraph    *g;
	bool	   *pull;			/* per node: triggered next step */
	List	   *sends;			/* Jsonb {"node", "arg"} */
	bool	  **seen;			/* per join, per source: seen since last trigger */
} Routing;

/*
 * A branch's path_map for one call of its router. An array path_map's names
 * are read once into a sorted C array, when the router first names one: a
 * router answering k names through P names costs k log P, not a scan (and
 * a Jsonb built) per name and path_map entry.
 */
typedef struct PathMap
{
	Jsonb	   *jb;				/* the branch's path_map, or NULL */
	char	  **names;			/* an array path_map's names, sorted (strcmp) */
	int			nnames;			/* -1 until read */
} PathMap;

/* Whether dest is one of an array path_map's names (duplicates allowed). */
static bool
path_map_has(PathMap *pm, const char *dest)
{
	if (pm->nnames < 0)
	{
		JsonbIterator *it = JsonbIteratorInit(&pm->jb->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		pm->names = palloc(sizeof(char *) * (JB_ROOT_COUNT(pm->jb) + 1));
		pm->nnames = 0;
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type == jbvString)
				pm->names[pm->nnames++] = pnstrdup(v.val.string.val, v.val.string.len);
		qsort(pm->names, pm->nnames, sizeof(char *), pg_qsort_strcmp);
	}
	return sg_sorted_index(dest, pm->names, pm->nnames, sizeof(char *)) >= 0;
}

/* Route to one destination a router named, through its path_map. */
static void
route_to(Routing *r, const char *from, const char *dest, PathMap *pm)
{
	const char *target = dest;
	int			n;

	if (pm->jb != NULL && sg_jsonb_is_object(pm->jb))
	{
		target = sg_jsonb_get_cstring(pm->jb, dest);
		if (target == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SG_INVALID_ROUTE),
					 errmsg("router of node \"%s\" returned \"%s\", which is not in its path_map", from, dest)));
	}
	else if (pm->jb != NULL && !path_map_has(pm, dest))
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_ROUTE),
				 errmsg("router of node \"%s\" returned \"%s\", which is not in its path_map", from, dest)));
	if (strcmp(target, SG_END_NAME) == 0)
		return;
	n = sg_graph_node_index(r->g, target);
	if (n <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_ROUTE),
				 errmsg("router of node \"%s\" returned \"%s\", which is not a node of graph \"%s\"",
						from, target, r->g->name),
				 errhint("A router returns a node name, a list of names, \"__end__\", or Send objects {\"node\": ..., \"arg\": ...}.")));
	r->pull[n] = true;
}

/* One jsonb answer of a router: a name, a Send object, or an array of those. */
static void
route_jsonb(Routing *r, const char *from, Jsonb *answer, PathMap *pm, bool nested)
{
	char	   *name = sg_jsonb_as_cstring(answer);

	/* true, false or a number picks a path_map entry by its text, as {True: "a"} does in Python */
	if (name == NULL && pm->jb != NULL && sg_jsonb_is_object(pm->jb) &&
		(sg_jsonb_is_scalar(answer, jbvBool) || sg_jsonb_is_scalar(answer, jbvNumeric)))
		name = JsonbToCString(NULL, &answer->root, VARSIZE(answer));
	if (name != NULL)
		route_to(r, from, name, pm);
	else if (sg_jsonb_is_object(answer) && sg_jsonb_get_cstring(answer, "node") != NULL)
	{
		char	   *target = sg_jsonb_get_cstring(answer, "node");
		SGJsonBuilder b = {0};

		if (sg_graph_node_index(r->g, target) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_INVALID_ROUTE),
					 errmsg("router of node \"%s\" sent to \"%s\", which is not a node of graph \"%s\"",
							from, target, r->g->name)));
		sg_jb_begin_object(&b);
		sg_jb_key(&b, "node");
		sg_jb_string(&b, target);
		sg_jb_key(&b, "arg");
		sg_jb_jsonb(&b, sg_jsonb_get(answer, "arg"));
		sg_jb_end_object(&b);
		r->sends = lappend(r->sends, sg_jb_finish(&b));
	}
	else if (!nested && sg_jsonb_is_array(answer))
	{
		int			i;

		for (i = 0; i < sg_jsonb_array_length(answer); i++)
			route_jsonb(r, from, sg_jsonb_array_get(answer, i), pm, true);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_ROUTE),
				 errmsg("router of node \"%s\" returned a JSON %s that names no node", from,
						sg_jsonb_type_name(answer)),
				 errhint("A router returns a node name, a list of names, \"__end__\", or Send objects {\"node\": ..., \"arg\": ...}.")));
}

/* The node whose router is running, so that a failed step can name it (executor.c). */
const char *sg_routing_node = NULL;

/* Call one router of a node on a state, and route to what it answers. */
static void
call_router(Routing *r, SGNode *node, SGBranch *br, Jsonb *local_state)
{
	bool		isnull;
	Datum		d;
	PathMap		pm = {br->path_map, NULL, -1};

	sg_routing_node = node->name;
	sg_require_function(br->router, "the router of node", node->name, r->g->name);
	sg_graph_check_fn_owner(r->g, br->router, br->router_owner, "the router of node", node->name);
	d = sg_call_jsonb_outside_task(&br->flinfo, 1, local_state, NULL, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_ROUTE),
				 errmsg("router of node \"%s\" returned null", node->name),
				 errhint("Return \"__end__\" to finish the run.")));
	if (br->rettype == TEXTOID)
		route_to(r, node->name, TextDatumGetCString(d), &pm);
	else if (br->rettype == BOOLOID)
		route_to(r, node->name, DatumGetBool(d) ? "true" : "false", &pm);
	else if (br->rettype == TEXTARRAYOID)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_SG_INVALID_ROUTE),
						 errmsg("router of node \"%s\" returned a list with a null", node->name)));
			route_to(r, node->name, TextDatumGetCString(elems[i]), &pm);
		}
	}
	else
		route_jsonb(r, node->name, DatumGetJsonbP(d), &pm, false);
	sg_routing_node = NULL;
}

/*
 * Where one task's node leads. Routers see base with only that task's update
 * applied. A task only marked done (joins_only) counts for its joins alone.
 */
static void
route_task(Routing *r, SGState *base, int node_index, Jsonb *update, bool joins_only)
{
	SGNode	   *node = &r->g->nodes[node_index];
	int			i;

	for (i = 0; i < node->nedges && !joins_only; i++)
		if (node->edges[i] != SG_END)
			r->pull[node->edges[i]] = true;
	/* the node knows its place among each join's sources (no scan of them) */
	for (i = 0; i < node->njoins; i++)
		r->seen[node->joins[i]][node->join_pos[i]] = true;
	if (node->nbranches > 0 && !joins_only)
	{
		SGWrite		w = {node->name, update};
		bool	   *changed = palloc0(sizeof(bool) * (r->g->nchannels + 1));
		SGState    *local = sg_apply_writes(r->g, base, &w, 1, changed);
		Jsonb	   *local_jsonb = sg_state_to_jsonb(r->g->cs, local);

		for (i = 0; i < node->nbranches; i++)
			call_router(r, node, &node->branches[i], local_jsonb);
	}
}

/*
 * Join barriers from their jsonb form {"join key": ["source", ...]}. A
 * name seen is found by its node's index (a binary search of the graph's
 * nodes) and that node's position among the join's sources (pos, filled
 * for one join at a time): time linear in a join's sources and the names
 * seen, not their product (the names were compared with every source: a
 * step after 19,999 of a join's 20,000 sources ran took seconds). Names
 * of no node, or of no source of the join, are skipped, as they were.
 */
static void
barriers_load(Routing *r, Jsonb *barriers)
{
	SGGraph    *g = r->g;
	int		   *pos = NULL;
	int			i,
				j,
				k;

	r->seen = palloc0(sizeof(bool *) * (g->njoins + 1));
	for (i = 0; i < g->njoins; i++)
	{
		SGJoin	   *jn = &g->joins[i];
		Jsonb	   *seen = sg_jsonb_get(barriers, jn->key);
		int			nseen = sg_jsonb_array_length(seen);

		r->seen[i] = palloc0(sizeof(bool) * (jn->nsources + 1));
		if (nseen <= 0)
			continue;
		if (pos == NULL)
		{
			pos = palloc(sizeof(int) * (g->nnodes + 1));
			for (j = 0; j < g->nnodes; j++)
				pos[j] = -1;
		}
		for (j = 0; j < jn->nsources; j++)
			pos[jn->sources[j]] = j;
		for (k = 0; k < nseen; k++)
		{
			char	   *s = sg_jsonb_as_cstring(sg_jsonb_array_get(seen, k));
			int			n = s ? sg_graph_node_index(g, s) : -1;

			CHECK_FOR_INTERRUPTS();
			if (n >= 0 && pos[n] >= 0)
				r->seen[i][pos[n]] = true;
		}
		for (j = 0; j < jn->nsources; j++)
			pos[jn->sources[j]] = -1;
	}
}

/* Trigger the joins whose sources have all been seen; the rest as jsonb (or NULL). */
static Jsonb *
barriers_store(Routing *r)
{
	SGJsonBuilder b = {0};
	bool		any = false;
	int			i,
				j;

	sg_jb_begin_object(&b);
	for (i = 0; i < r->g->njoins; i++)
	{
		SGJoin	   *jn = &r->g->joins[i];
		bool		all = true;
		bool		some = false;

		for (j = 0; j < jn->nsources; j++)
		{
			all = all && r->seen[i][j];
			some = some || r->seen[i][j];
		}
		if (all)
		{
			if (jn->target != SG_END)
				r->pull[jn->target] = true;
			continue;			/* consumed */
		}
		if (!some)
			continue;
		sg_jb_key(&b, jn->key);
		sg_jb_begin_array(&b);
		for (j = 0; j < jn->nsources; j++)
			if (r->seen[i][j])
				sg_jb_string(&b, r->g->nodes[jn->sources[j]].name);
		sg_jb_end_array(&b);
		any = true;
	}
	sg_jb_end_object(&b);
	return any ? sg_jb_finish(&b) : NULL;
}

/*
 * Route the tasks that just ran from state base (nodes[i] wrote updates[i]):
 * set cp's next (triggered nodes in name order, then Sends in order), sends
 * and barriers. The first ndone tasks only count as done for the joins that
 * wait for them: sg_update_state applies the writes of an interrupted step's
 * finished tasks before the update, and, as in LangGraph, where those tasks
 * lead is dropped with the step (their joins keep them, as LangGraph's
 * barrier channels do), so next comes from the update's node.
 */
void
sg_route(SGGraph *g, SGState *base, int ntasks, int ndone, const int *nodes, Jsonb **updates,
		 SGCheckpoint *cp)
{
	Routing		r = {0};
	int			i,
				n = 0;
	ListCell   *lc;

	r.g = g;
	r.pull = palloc0(sizeof(bool) * (g->nnodes + 1));
	barriers_load(&r, base->barriers);
	for (i = 0; i < ntasks; i++)
		route_task(&r, base, nodes[i], updates[i], i < ndone);
	cp->barriers = barriers_store(&r);

	cp->next = palloc0(sizeof(char *) * (g->nnodes + list_length(r.sends) + 1));
	for (i = 1; i < g->nnodes; i++)
		if (r.pull[i])
			cp->next[n++] = g->nodes[i].name;
	cp->sends = NULL;
	if (r.sends != NIL)
	{
		SGJsonBuilder sb = {0};

		sg_jb_begin_array(&sb);
		foreach(lc, r.sends)
		{
			Jsonb	   *send = (Jsonb *) lfirst(lc);

			cp->next[n++] = g->nodes[sg_graph_node_index(g, sg_jsonb_get_cstring(send, "node"))].name;
			sg_jb_jsonb(&sb, send);
		}
		sg_jb_end_array(&sb);
		cp->sends = sg_jb_finish(&sb);
	}
	cp->nnext = n;
}
