/*-------------------------------------------------------------------------
 *
 * channel.c
 *		Channel values and reducers: applying the updates of one super-step
 *		to a state, the way LangGraph's apply_writes does.
 *
 * Updates are applied in task order (node-name order), so the result does
 * not depend on the order nodes happened to run. A channel that starts
 * empty takes its first update as it is, then reduces the rest, as
 * LangGraph's BinaryOperatorAggregate does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* Order of C strings (qsort). */
static int
cmp_cstring(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A store kind from its name in a thread's channel kinds. */
SGStoreKind
sg_store_kind_from_name(const char *s)
{
	if (strcmp(s, "append") == 0)
		return SG_STORE_APPEND;
	if (strcmp(s, "image") == 0)
		return SG_STORE_IMAGE;
	return SG_STORE_LAST;
}

/*
 * Whether kinds is a thread's channel kinds, {"channel": "append" | "image" |
 * "last", ...}: stategraph.threads is written by its owners' SQL too.
 */
bool
sg_channel_kinds_valid(Jsonb *kinds)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	if (!sg_jsonb_is_object(kinds))
		return false;
	it = JsonbIteratorInit(&kinds->root);
	while (sg_jsonb_next_pair(&it, &name, &v))
	{
		char	   *kind;

		if (v.type != jbvString)
			return false;
		/* a known name is the one its kind is named by */
		kind = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(sg_store_kind_name(sg_store_kind_from_name(kind)), kind) != 0)
			return false;
	}
	return true;
}

/* The name of a store kind, as a thread's channel kinds hold it. */
const char *
sg_store_kind_name(SGStoreKind k)
{
	switch (k)
	{
		case SG_STORE_APPEND:
			return "append";
		case SG_STORE_IMAGE:
			return "image";
		case SG_STORE_LAST:
			break;
	}
	return "last";
}

/* A channel set from {"channel": kind, ...}, sorted by name. */
SGChannelSet *
sg_channelset_from_jsonb(Jsonb *kinds)
{
	SGChannelSet *cs = palloc0(sizeof(SGChannelSet));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	cs->n = JB_ROOT_COUNT(kinds);
	cs->names = palloc0(sizeof(char *) * (cs->n + 1));
	cs->kinds = palloc0(sizeof(SGStoreKind) * (cs->n + 1));
	i = 0;
	it = JsonbIteratorInit(&kinds->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			cs->names[i++] = pnstrdup(v.val.string.val, v.val.string.len);
	qsort(cs->names, cs->n, sizeof(char *), cmp_cstring);
	for (i = 0; i < cs->n; i++)
		cs->kinds[i] = sg_store_kind_from_name(sg_jsonb_get_cstring(kinds, cs->names[i]));
	return cs;
}

/* The index of channel name in a channel set, or -1. */
int
sg_channelset_index(SGChannelSet *cs, const char *name)
{
	return sg_sorted_index(name, cs->names, cs->n, sizeof(char *));
}

/* A state of n channels, all empty. */
SGState *
sg_state_new(int n)
{
	SGState    *s = palloc0(sizeof(SGState));

	s->n = n;
	s->values = palloc0(sizeof(Jsonb *) * (n + 1));
	s->parts = palloc0(sizeof(List *) * (n + 1));
	s->track = palloc0(sizeof(SGTrack) * (n + 1));
	return s;
}

/* A copy that shares the (immutable) values. */
SGState *
sg_state_copy(SGState *s)
{
	SGState    *c = sg_state_new(s->n);
	int			i;

	memcpy(c->values, s->values, sizeof(Jsonb *) * s->n);
	for (i = 0; i < s->n; i++)
		c->parts[i] = list_copy(s->parts[i]);
	memcpy(c->track, s->track, sizeof(SGTrack) * s->n);
	c->barriers = s->barriers;
	return c;
}

/* base followed by the elements of the arrays in parts, as one new array. */
static Jsonb *
joined(Jsonb *base, List *parts)
{
	JsonbContainer **arrays = palloc(sizeof(JsonbContainer *) * (list_length(parts) + 1));
	int			n = 0;
	ListCell   *lc;

	if (base != NULL)
		arrays[n++] = &base->root;
	foreach(lc, parts)
		arrays[n++] = &((Jsonb *) lfirst(lc))->root;
	return sg_jsonb_array_concat(n, arrays);
}

/* A copy whose values live, whole, in the current memory context. */
SGState *
sg_state_copy_deep(SGState *s)
{
	SGState    *c = sg_state_new(s->n);
	int			i;

	for (i = 0; i < s->n; i++)
		c->values[i] = s->parts[i] != NIL ? joined(s->values[i], s->parts[i]) : sg_jsonb_copy(s->values[i]);
	memcpy(c->track, s->track, sizeof(SGTrack) * s->n);
	c->barriers = sg_jsonb_copy(s->barriers);
	return c;
}

/*
 * The value of channel c, joining the arrays appended to it so far (the
 * joined value replaces them in s).
 */
Jsonb *
sg_state_value(SGState *s, int c)
{
	if (s->parts[c] != NIL)
	{
		s->values[c] = joined(s->values[c], s->parts[c]);
		s->parts[c] = NIL;
	}
	return s->values[c];
}

/* The size of channel c's value, without joining its parts. */
Size
sg_state_value_size(SGState *s, int c)
{
	Size		size = s->values[c] ? VARSIZE(s->values[c]) : 0;
	ListCell   *lc;

	foreach(lc, s->parts[c])
		size += VARSIZE(lfirst(lc));
	return size;
}

/*
 * Refuse a state that could never be read back: every read assembles the
 * channels into one jsonb object, and a jsonb value holds at most
 * JENTRY_OFFLENMASK bytes (256 MB). Checked before a checkpoint is stored,
 * so the thread keeps reading as it did.
 */
void
sg_check_state_size(SGChannelSet *cs, SGState *s, const char *thread_id)
{
	Size		total = VARHDRSZ + sizeof(uint32);
	int			c;

	for (c = 0; c < cs->n; c++)
		total += sg_state_value_size(s, c) + strlen(cs->names[c]) + 2 * sizeof(JEntry) + 4;
	if (total > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("state of thread \"%s\" would exceed the maximum jsonb size", thread_id),
				 errdetail("The channels would take about %zu bytes; a jsonb value holds at most %d bytes, so the state could never be read back.",
						   total, JENTRY_OFFLENMASK),
				 errhint("Keep large data in tables and store references to it in the state.")));
}

/* The state of a new thread: every channel at its default. */
SGState *
sg_state_initial(SGGraph *g)
{
	SGState    *s = sg_state_new(g->nchannels);
	int			i;

	for (i = 0; i < g->nchannels; i++)
		s->values[i] = g->channels[i].initial;
	return s;
}

/* The state as LangGraph shows it: an object of the channels that have a value. */
Jsonb *
sg_state_to_jsonb(SGChannelSet *cs, SGState *s)
{
	return sg_jsonb_object_build(cs->n, (const char **) cs->names, s->values, s->parts);
}

/* A value a built-in reducer cannot take; who wrote it: "node \"x\"", "input", ... */
static void
type_mismatch(SGChannel *c, const char *expected, Jsonb *got, const char *who)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("invalid update for channel \"%s\" from %s: %s expects %s, got a JSON %s",
					c->name, who,
					c->reducer == SG_REDUCER_APPEND ? "append" :
					c->reducer == SG_REDUCER_ADD ? "add" : "merge",
					expected, sg_jsonb_type_name(got))));
}

/* What a built-in reducer takes, when v is not that; NULL when v fits. */
static const char *
unfit_for(SGChannel *c, JsonbValue *v)
{
	bool		container = v->type == jbvBinary;

	switch (c->reducer)
	{
		case SG_REDUCER_APPEND:
			return container && JsonContainerIsArray(v->val.binary.data) ? NULL : "an array";
		case SG_REDUCER_ADD:
			return v->type == jbvNumeric ? NULL : "a number";
		case SG_REDUCER_MERGE:
			return container && JsonContainerIsObject(v->val.binary.data) ? NULL : "an object";
		default:
			return NULL;
	}
}

/*
 * An update must be an object whose keys are channels of the graph; who
 * names its author in errors ("node \"step1\"", "input", ...).
 */
void
sg_check_update(SGGraph *g, const char *who, Jsonb *update)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *key;
	const char *expected;
	int			c;

	if (update == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_UPDATE),
				 errmsg("%s of graph \"%s\" returned null instead of an update", who, g->name),
				 errhint("Return a JSON object of channel values, or '{}' to change nothing.")));
	if (!JB_ROOT_IS_OBJECT(update))
		ereport(ERROR,
				(errcode(ERRCODE_SG_INVALID_UPDATE),
				 errmsg("expected an object as the update of %s in graph \"%s\", got a JSON %s",
						who, g->name, sg_jsonb_type_name(update)),
				 errhint("Return a JSON object of channel values, such as '{\"step\": 1}'.")));
	it = JsonbIteratorInit(&update->root);
	while (sg_jsonb_next_pair(&it, &key, &v))
	{
		c = sg_channelset_index(g->cs, key);
		if (c < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s wrote to channel \"%s\", which graph \"%s\" does not have", who, key, g->name),
					 errhint("The channels of a graph are fixed by sg_create_graph().")));
		if ((expected = unfit_for(&g->channels[c], &v)) != NULL)
			type_mismatch(&g->channels[c], expected, sg_jsonb_from_value(&v), who);
	}
}

/* Reduce one written value into the current one (NULL: empty). */
static Jsonb *
reduce(SGChannel *c, Jsonb *current, Jsonb *value, const char *task)
{
	switch (c->reducer)
	{
		case SG_REDUCER_REPLACE:
			return value;
		case SG_REDUCER_APPEND:
			/* only the first value comes here; the others become parts */
			if (!sg_jsonb_is_array(value))
				type_mismatch(c, "an array", value, psprintf("node \"%s\"", task));
			return value;
		case SG_REDUCER_ADD:
			{
				JsonbValue	a,
							b,
							r;
				bool		overflow = false;

				if (!sg_jsonb_is_scalar(value, jbvNumeric))
					type_mismatch(c, "a number", value, psprintf("node \"%s\"", task));
				if (current == NULL)
					return value;
				if (!sg_jsonb_is_scalar(current, jbvNumeric))
					type_mismatch(c, "a number", current, psprintf("node \"%s\"", task));
				JsonbExtractScalar(&current->root, &a);
				JsonbExtractScalar(&value->root, &b);
				r.type = jbvNumeric;
				r.val.numeric = numeric_add_opt_error(a.val.numeric, b.val.numeric, &overflow);
				if (overflow)	/* (numeric_add's error named no channel) */
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("the sum in channel \"%s\" from node \"%s\" overflows the numeric format",
									c->name, task)));
				return sg_jsonb_from_value(&r);
			}
		case SG_REDUCER_MERGE:
			if (!sg_jsonb_is_object(value))
				type_mismatch(c, "an object", value, psprintf("node \"%s\"", task));
			if (current == NULL)
				return value;
			if (!sg_jsonb_is_object(current))
				type_mismatch(c, "an object", current, psprintf("node \"%s\"", task));
			return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(current),
													  JsonbPGetDatum(value)));
		case SG_REDUCER_CUSTOM:
			{
				bool		isnull;
				Datum		result;

				if (current == NULL)
					return value;
				result = sg_call_jsonb_outside_task(&c->reducer_flinfo, 2, current, value, &isnull);
				if (isnull)
					ereport(ERROR,
							(errcode(ERRCODE_SG_INVALID_UPDATE),
							 errmsg("reducer of channel \"%s\" returned null", c->name)));
				return DatumGetJsonbP(result);
			}
	}
	return value;
}

/*
 * Apply the updates of one super-step (already in task order) to s and
 * return the new state; changed[i] tells which channels were written.
 */
SGState *
sg_apply_writes(SGGraph *g, SGState *s, SGWrite *writes, int nwrites, bool *changed)
{
	SGState    *r = sg_state_copy(s);
	const char **writer = palloc0(sizeof(char *) * (g->nchannels + 1));
	int			w;

	memset(changed, 0, sizeof(bool) * g->nchannels);
	for (w = 0; w < nwrites; w++)
	{
		JsonbIterator *it;
		JsonbValue	v;
		char	   *key;

		if (writes[w].update == NULL)
			continue;
		it = JsonbIteratorInit(&writes[w].update->root);
		while (sg_jsonb_next_pair(&it, &key, &v))
		{
			int			c = sg_channelset_index(g->cs, key);
			SGChannel  *ch;

			if (c < 0)
				continue;		/* checked by sg_check_update */
			ch = &g->channels[c];
			if (ch->reducer == SG_REDUCER_REPLACE && writer[c] != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_SG_INVALID_UPDATE),
						 errmsg("Invalid update for channel \"%s\": it can receive only one value per step", key),
						 errdetail("Nodes \"%s\" and \"%s\" both wrote to it in the same step.",
								   writer[c], writes[w].task),
						 errhint("Give the channel a reducer, such as append, add or merge, to combine several values.")));
			writer[c] = writes[w].task;
			if (ch->reducer == SG_REDUCER_APPEND && (r->values[c] != NULL || r->parts[c] != NIL))
			{
				/* appended later, when the whole value is needed */
				Jsonb	   *value = sg_jsonb_from_value(&v);

				if (!sg_jsonb_is_array(value))
					type_mismatch(ch, "an array", value, psprintf("node \"%s\"", writes[w].task));
				if (r->values[c] != NULL && !sg_jsonb_is_array(r->values[c]))
					type_mismatch(ch, "an array", r->values[c], psprintf("node \"%s\"", writes[w].task));
				r->parts[c] = lappend(r->parts[c], value);
			}
			else
			{
				/* a custom reducer is called (reduce): checked as nodes and routers are */
				if (ch->reducer == SG_REDUCER_CUSTOM && r->values[c] != NULL)
				{
					sg_require_function(ch->reducer_fn, "the reducer of channel", ch->name, g->name);
					sg_graph_check_fn_owner(g, ch->reducer_fn, ch->reducer_owner, "the reducer of channel", ch->name);
				}
				r->values[c] = reduce(ch, r->values[c], sg_jsonb_from_value(&v), writes[w].task);
			}
			changed[c] = true;
		}
	}
	return r;
}
