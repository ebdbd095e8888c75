/*-------------------------------------------------------------------------
 *
 * graph.c
 *		Defining graphs (sg_create_graph, sg_add_node, sg_add_edge,
 *		sg_add_conditional_edges, sg_drop_graph), validating and freezing
 *		them (sg_compile), and the per-backend cache of compiled graphs.
 *
 * The sg_add_* functions write a draft into stategraph.nodes, .edges and
 * .branches, the way LangGraph's StateGraph builder collects nodes and
 * edges. sg_compile validates the draft and freezes it as a jsonb spec in
 * stategraph.graphs.spec; runs only ever use that frozen spec, so editing a
 * draft never changes a compiled graph until it is compiled again.
 * Functions are kept in the spec by schema-qualified signature, so a spec
 * survives pg_dump and restore.
 *
 * Each backend caches compiled graphs, built from the spec on first use. A
 * statement trigger on stategraph.graphs sends a relcache invalidation for
 * that table on every change, and any change to pg_proc also drops the
 * cache; a graph still in use by a running call is freed when that call ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(sg_create_graph);
PG_FUNCTION_INFO_V1(sg_add_node);
PG_FUNCTION_INFO_V1(sg_add_external_node);
PG_FUNCTION_INFO_V1(sg_add_edge);
PG_FUNCTION_INFO_V1(sg_add_join_edge);
PG_FUNCTION_INFO_V1(sg_add_conditional_edges);
PG_FUNCTION_INFO_V1(sg_compile);
PG_FUNCTION_INFO_V1(sg_drop_graph);
PG_FUNCTION_INFO_V1(sg_graphs_changed);
PG_FUNCTION_INFO_V1(sg_graph_gen);

/* sg_sorted_index finds nodes by their first member */
StaticAssertDecl(offsetof(SGNode, name) == 0, "SGNode must begin with its name");

static void check_storage_access(void);
static void graph_pin(SGGraph *g, MemoryContext cxt);
static void owner_refuse(const char *graph, const char *owner) pg_attribute_noreturn();
static char *spec_problem(Jsonb *spec);

typedef enum SGSignature
{
	SIG_NODE,					/* (jsonb [, jsonb]) -> jsonb */
	SIG_ROUTER,					/* (jsonb) -> text | text[] | jsonb */
	SIG_REDUCER					/* (jsonb, jsonb) -> jsonb */
} SGSignature;

/* ---------------------------------------------------------------------------
 * Graph rows (definition statements are not hot: no kept plans)
 * ---------------------------------------------------------------------------
 */

/*
 * DEFINE_INSERT: the definition functions look for the row they would
 * add, and refuse a duplicate (42710, duplicate_object), before they
 * insert it. A row that another session inserted and had not committed
 * yet is not seen there: their inserts take ON CONFLICT DO NOTHING on the
 * table's key, which waits for that session as the key's check did, and
 * a row not inserted (the other session committed it) is the same
 * duplicate, with the same error. The plain insert failed with 23505
 * (unique_violation) on the table's key instead (isolation
 * define_concurrent_duplicate). Chosen over a lock taken before the look
 * (an advisory lock, or the graph's row: there is none for
 * sg_create_graph) and over a subtransaction that catches the unique
 * violation: nothing more is taken or begun, and the rival's rollback
 * still lets the insert go on. Under REPEATABLE READ a row committed
 * after the snapshot fails the insert with 40001, to be retried as any
 * serialization failure (the retry gets the 42710). Since the owner's
 * check locks the graph's row (sg_graph_require_owner), two transactions
 * adding to one graph go one after the other and the look sees the other's
 * row; sg_create_graph, which has no row to lock, needs the insert's check.
 */

/* Does graph exist? */
static bool
graph_exists(const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};

	return sg_spi_run("SELECT 1 FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
					  1, types, values, NULL) > 0;
}

/* Fail unless graph exists. */
static void
require_graph(const char *graph)
{
	if (!graph_exists(graph))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("graph \"%s\" does not exist", graph),
				 errhint("Create it with sg_create_graph().")));
}

/*
 * Is the schema still 0.1.0's? A new library runs under a database whose
 * ALTER EXTENSION stategraph UPDATE has not run yet (and the upgrade test
 * makes its data that way): no owners, no router order, reg* columns.
 */
bool
sg_schema_is_010(void)
{
	Oid			rel = sg_table_oid("branches");

	return get_attnum(rel, "ordinal") == InvalidAttrNumber;
}

/* What a signature parameter ($n text) needs to match the column: 0.1.0 kept regprocedure. */
#define SIGNATURE_CAST (sg_schema_is_010() ? "::pg_catalog.regprocedure" : "")

/*
 * Only the graph's owner (or a member of the owner's role) may change its
 * definition; row-level security would silently skip the rows, so the
 * refusal is explicit. Superusers own everything.
 *
 * The graph's row is then locked (FOR NO KEY UPDATE, as sg_compile's
 * UPDATE of it) until the transaction ends: the transactions that change,
 * compile or drop one graph go one after the other, and one that comes
 * after an uncommitted drop waits for it and finds the graph gone (42704).
 * They read the graph without a lock: sg_compile of a graph dropped
 * meanwhile, and a second sg_drop_graph, succeeded doing nothing; the
 * node, edge or conditional edge of a transaction open across a drop was
 * left behind (the drop's trigger did not see it), where a graph of that
 * name created next, by any role, took it as its own; two routers of one
 * source added at once got one ordinal (isolation define_vs_drop_graph,
 * define_concurrent_duplicate). Not FOR KEY SHARE, which let definitions
 * go side by side: two transactions that each held it and then dropped
 * the graph (a DELETE, FOR UPDATE) waited for each other (a deadlock).
 * Runs, submits and reads take no lock of the row, and wait for none.
 *
 * The owner that decides is the one the lock returns, read once the row
 * is held (no sg_reassign_owned can change it until this transaction
 * ends). A first read, without a lock, refuses another role's graph
 * without waiting for its owner's transactions, and tells a graph that
 * never was from one dropped while the lock waited. The locking read is
 * under the policy graphs_owner: a reassign committed after the first
 * read, or waited for in the lock, leaves it no row, as a drop does; so a
 * read without a lock then tells which it was (the graph gone: 42704;
 * another role's: 42501, "must be owner"). Before, the owner was read
 * only before the lock, and such a reassign was reported as a drop
 * (test/fuzz/RESULTS.md, Roles, item 5; isolation owner_check_reassign).
 * A graph its caller owns by then all the same (given back, a role granted
 * meanwhile, or dropped and created again) is locked again, as if the
 * call had come after those commits.
 */
static void
owner_refuse(const char *graph, const char *owner)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("must be owner of graph \"%s\"", graph),
			 errdetail("Graph \"%s\" belongs to role \"%s\".", graph, owner),
			 errhint("Only the owner of a graph, or a member of its role, may change, compile or drop it.")));
}

void
sg_graph_require_owner(const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};
	bool		isnull;

	if (sg_schema_is_010())
	{
		require_graph(graph);
		return;
	}
	if (sg_spi_run("SELECT stategraph.owned(owner), owner FROM stategraph.graphs "
				   "WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL) == 0)
		require_graph(graph);
	if (!superuser() && !DatumGetBool(sg_spi_datum(0, 1, &isnull)))
		owner_refuse(graph, sg_spi_text(0, 2));
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		/* (an owner's lock: a locking read is under the policy graphs_owner) */
		if (sg_spi_run("SELECT stategraph.owned(owner), owner FROM stategraph.graphs "
					   "WHERE graph OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE",
					   1, types, values, NULL) > 0)
		{
			/* (a role that bypasses the policy locks another role's row: refused all the same) */
			if (!superuser() && !DatumGetBool(sg_spi_datum(0, 1, &isnull)))
				owner_refuse(graph, sg_spi_text(0, 2));
			return;
		}
		if (sg_spi_run("SELECT stategraph.owned(owner), owner FROM stategraph.graphs "
					   "WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("graph \"%s\" does not exist", graph),
					 errdetail("Another transaction dropped it meanwhile."),
					 errhint("Create it with sg_create_graph().")));
		if (!superuser() && !DatumGetBool(sg_spi_datum(0, 1, &isnull)))
			owner_refuse(graph, sg_spi_text(0, 2));
	}
}

/* The graph's normalized channels. */
static Jsonb *
graph_channels(const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};

	if (sg_spi_run("SELECT channels FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
				   1, types, values, NULL) == 0)
		return NULL;
	return sg_spi_jsonb(0, SG_SOLE_COLUMN);
}

/* Whether reducer names one of stategraph's own (the rest are functions). */
static bool
reducer_is_builtin(const char *reducer)
{
	return strcmp(reducer, "replace") == 0 || strcmp(reducer, "append") == 0 ||
		strcmp(reducer, "add") == 0 || strcmp(reducer, "merge") == 0;
}

/* Node and channel names: not empty; names like "__x" belong to stategraph. */
void
sg_check_name(const char *what, const char *name)
{
	sg_check_length(name, psprintf("%s name", what), "Names");
	if (strncmp(name, "__", 2) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("%s name \"%s\" is reserved", what, name),
				 errdetail("Names beginning with \"__\", such as __start__ and __end__, are reserved by stategraph.")));
}

/* ---------------------------------------------------------------------------
 * Function signatures
 * ---------------------------------------------------------------------------
 */
static const char *
signature_text(SGSignature sig)
{
	switch (sig)
	{
		case SIG_NODE:
			return "(state jsonb) or (state jsonb, config jsonb) returning jsonb";
		case SIG_ROUTER:
			return "(state jsonb) returning text, text[], jsonb or boolean";
		case SIG_REDUCER:
			return "(current jsonb, update jsonb) returning jsonb";
	}
	return "";
}

/*
 * Check that fn can serve as a node, router or reducer; what names it in the
 * error. Returns the number of arguments.
 */
static int
check_signature(Oid fn, SGSignature sig, const char *what)
{
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		ok = true;
	int			nargs;
	int			i;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function of %s does not exist any more", what),
				 errhint("Define the function again, then add it again and recompile the graph.")));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	nargs = proc->pronargs;

	if (proc->prokind != PROKIND_FUNCTION || proc->proretset)
		ok = false;
	for (i = 0; i < nargs; i++)
		if (proc->proargtypes.values[i] != JSONBOID)
			ok = false;
	switch (sig)
	{
		case SIG_NODE:
			ok = ok && (nargs == 1 || nargs == 2) && proc->prorettype == JSONBOID;
			break;
		case SIG_ROUTER:
			ok = ok && nargs == 1 &&
				(proc->prorettype == TEXTOID || proc->prorettype == TEXTARRAYOID ||
				 proc->prorettype == JSONBOID || proc->prorettype == BOOLOID);
			break;
		case SIG_REDUCER:
			ok = ok && nargs == 2 && proc->prorettype == JSONBOID;
			break;
	}
	ReleaseSysCache(tup);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s cannot be used as %s", format_procedure(fn), what),
				 errdetail("It must be a plain function %s.", signature_text(sig))));
	return nargs;
}

/* Resolve a qualified signature stored in a spec; InvalidOid if it is gone. */
static Oid
resolve_function(const char *signature)
{
	Datum		d;
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(signature);
	fcinfo->args[0].isnull = false;
	d = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(d);
}

/*
 * Resolve a signature stored in a draft table. 0.1.0 left "dropped function
 * <oid>" for functions already gone when it was updated: such a name (any
 * text without an argument list) never resolves, so a bare OID can never
 * bind to another function.
 */
static Oid
resolve_stored(const char *signature)
{
	if (strchr(signature, '(') == NULL)
		return InvalidOid;
	return resolve_function(signature);
}

/* The role that owns function fn now (InvalidOid if it is gone). */
static Oid
proc_owner(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return InvalidOid;
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return owner;
}

/* The name of the role that owns function fn now. */
static char *
function_owner(Oid fn)
{
	Oid			owner = proc_owner(fn);

	if (!OidIsValid(owner))
		elog(ERROR, "cache lookup failed for function %u", fn);
	return GetUserNameFromId(owner, false);
}

/*
 * Whether fn may still serve a graph owned by graph_owner: it belongs to
 * the graph's owner, or to bound, the role that owned it when it was added
 * (NULL: the graph's owner). A function dropped and created again under
 * its signature by another role, or given to another role, does not: the
 * graph would run that role's code as its caller. graph_owner NULL (the
 * schema of 0.1.0, which recorded no owners): any.
 */
static bool
owner_ok(Oid fn, const char *bound, const char *graph_owner)
{
	char	   *now;

	if (graph_owner == NULL)
		return true;
	now = function_owner(fn);
	return strcmp(now, graph_owner) == 0 || (bound != NULL && strcmp(now, bound) == 0);
}

/*
 * A function of graph by its stored signature (42883 when it is gone), of
 * the owner it was bound to (42501 otherwise: owner_ok); what names what it
 * was for, sig how it is added again, draft says whether the graph's draft
 * or its compiled form refers to it (their hints differ).
 */
static Oid
graph_function(const char *signature, const char *bound, const char *graph_owner,
			   const char *graph, SGSignature sig, const char *what, bool draft)
{
	Oid			fn = resolve_stored(signature);

	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s of %s in graph \"%s\" does not exist", signature, what, graph),
				 draft ? errhint("Create the function again, or add %s again with its new function.", what) :
				 errhint("Create the function again, or change the graph and call sg_compile('%s').", graph)));
	if (!owner_ok(fn, bound, graph_owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("function %s of %s in graph \"%s\" belongs to role \"%s\", not to role \"%s\"",
						signature, what, graph, function_owner(fn), bound ? bound : graph_owner),
				 errdetail("It was dropped and created again by another role, or given to another role, since %s was added: "
						   "a graph runs only functions of its owner or of the role that owned them when they were added.", what),
				 sig == SIG_NODE ?
				 errhint("If the new function is meant, add the node again with sg_add_node() and call sg_compile('%s').", graph) :
				 sig == SIG_ROUTER ?
				 errhint("If the new function is meant, add the conditional edges again with sg_add_conditional_edges() and call sg_compile('%s').", graph) :
				 errhint("If the new function is meant, drop the graph and create it again with sg_create_graph().")));
	return fn;
}

/* The owner of graph (NULL on the schema of 0.1.0, or if there is no such graph). */
static char *
graph_owner(const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};

	if (sg_schema_is_010() ||
		sg_spi_run("SELECT owner::pg_catalog.text FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
				   1, types, values, NULL) == 0)
		return NULL;
	return sg_spi_text(0, 1);
}

/* ---------------------------------------------------------------------------
 * sg_create_graph
 * ---------------------------------------------------------------------------
 */

/* A reducer's name being looked up, as sg_spi_subxact runs it. */
typedef struct ReducerLookup
{
	const char *name;
	Oid			fn;				/* InvalidOid: not found */
	bool		other_signature;	/* functions of that name exist, none takes (jsonb, jsonb) */
} ReducerLookup;

/* Look a reducer up by name or signature (may fail in many ways: see lookup_reducer). */
static bool
find_reducer(void *arg)
{
	ReducerLookup *l = (ReducerLookup *) arg;
	Oid			argtypes[2] = {JSONBOID, JSONBOID};

	if (strchr(l->name, '(') != NULL)
		l->fn = resolve_function(l->name);
	else
	{
		List	   *qname = stringToQualifiedNameList(l->name);

		l->fn = LookupFuncName(qname, 2, argtypes, true);
		if (!OidIsValid(l->fn))
			l->other_signature = OidIsValid(LookupFuncName(qname, -1, NULL, true));
	}
	return true;
}

/*
 * A custom reducer given by name: "fn", "schema.fn" (looked up as fn(jsonb,
 * jsonb)) or a full signature. A name that no such function has, or that is
 * not even a valid name or signature, is an error of the channel's
 * definition (22023) that names the channel.
 */
static Oid
lookup_reducer(const char *name, const char *channel)
{
	ReducerLookup l = {name, InvalidOid, false};
	char	   *problem = NULL;
	ErrorData  *edata;
	Oid			fn;
	bool		other_signature;

	/* parsing the name can fail in many ways; a subtransaction catches them all */
	edata = sg_spi_subxact(find_reducer, &l);
	fn = l.fn;
	other_signature = l.other_signature;
	if (edata != NULL)
	{
		other_signature = edata->sqlerrcode == ERRCODE_AMBIGUOUS_FUNCTION;
		if (!other_signature)
			problem = edata->message;
	}

	if (!OidIsValid(fn))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown reducer \"%s\" for channel \"%s\"", name, channel),
				 other_signature ? errdetail("Functions named \"%s\" exist, but none takes (jsonb, jsonb).", name) :
				 problem ? errdetail("The name does not parse: %s.", problem) : 0,
				 errhint("Use replace, append, add, merge, or the name of a function (current jsonb, update jsonb) returning jsonb.")));
	return fn;
}

/* Normalize one channel's definition into the builder. */
static void
normalize_channel(SGJsonBuilder *b, const char *name, Jsonb *def)
{
	char	   *reducer = NULL;
	Jsonb	   *dflt = NULL;
	bool		has_default = false;

	sg_check_name("channel", name);
	if (JB_ROOT_IS_SCALAR(def))
	{
		reducer = sg_jsonb_as_cstring(def);
		if (reducer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("channel \"%s\" must be given as a reducer name or an object", name),
					 errhint("For example {\"messages\": \"append\"} or {\"messages\": {\"reducer\": \"append\", \"default\": []}}.")));
	}
	else if (JB_ROOT_IS_OBJECT(def))
	{
		JsonbIterator *it = JsonbIteratorInit(&def->root);
		JsonbValue	v;
		char	   *key;

		while (sg_jsonb_next_pair(&it, &key, &v))
		{
			if (strcmp(key, "reducer") == 0)
			{
				if (v.type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("reducer of channel \"%s\" must be a string", name)));
				reducer = pnstrdup(v.val.string.val, v.val.string.len);
			}
			else if (strcmp(key, "default") == 0)
			{
				dflt = sg_jsonb_from_value(&v);
				has_default = true;
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown key \"%s\" in the definition of channel \"%s\"", key, name),
						 errhint("A channel is defined by \"reducer\" and \"default\".")));
		}
		if (reducer == NULL)
			reducer = "replace";
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel \"%s\" must be given as a reducer name or an object", name)));

	sg_jb_key(b, name);
	sg_jb_begin_object(b);
	sg_jb_key(b, "reducer");
	if (reducer_is_builtin(reducer))
	{
		sg_jb_string(b, reducer);
		/* the defaults of LangGraph's list, int and dict channels */
		if (!has_default && strcmp(reducer, "append") == 0)
			dflt = sg_jsonb_empty_array(), has_default = true;
		else if (!has_default && strcmp(reducer, "add") == 0)
			dflt = sg_jsonb_from_cstring("0"), has_default = true;
		else if (!has_default && strcmp(reducer, "merge") == 0)
			dflt = sg_jsonb_empty_object(), has_default = true;
		if (has_default &&
			((strcmp(reducer, "append") == 0 && !sg_jsonb_is_array(dflt)) ||
			 (strcmp(reducer, "add") == 0 && !sg_jsonb_is_scalar(dflt, jbvNumeric)) ||
			 (strcmp(reducer, "merge") == 0 && !sg_jsonb_is_object(dflt))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("default of channel \"%s\" does not suit reducer %s", name, reducer),
					 errdetail("append takes an array, add a number, merge an object; the default is a %s.",
							   sg_jsonb_type_name(dflt))));
	}
	else
	{
		Oid			fn = lookup_reducer(reducer, name);
		char	   *what = psprintf("the reducer of channel \"%s\"", name);
		char	   *owner = function_owner(fn);

		check_signature(fn, SIG_REDUCER, what);
		sg_jb_string(b, "custom");
		sg_jb_key(b, "fn");
		sg_jb_string(b, format_procedure_qualified(fn));
		/* bound to its owner (0.1.0's schema records no owners) */
		if (!sg_schema_is_010())
			sg_jb_string_field(b, "fn_owner", owner);
	}
	if (has_default)
	{
		sg_jb_key(b, "default");
		sg_jb_jsonb(b, dflt);
	}
	sg_jb_end_object(b);
}

/* sg_create_graph(graph, channels): a new graph with its channels normalized. */
Datum
sg_create_graph(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	Jsonb	   *channels;
	SGJsonBuilder b = {0};
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];

	sg_require_arg(fcinfo, 1, "channels");
	channels = PG_GETARG_JSONB_P(1);
	if (!sg_jsonb_is_object(channels) || JB_ROOT_COUNT(channels) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channels must be a non-empty JSON object"),
				 errhint("For example '{\"messages\": \"append\", \"step\": \"replace\"}'.")));

	sg_jb_begin_object(&b);
	it = JsonbIteratorInit(&channels->root);
	while (sg_jsonb_next_pair(&it, &name, &v))
		normalize_channel(&b, name, sg_jsonb_from_value(&v));
	sg_jb_end_object(&b);

	sg_prevent_write("sg_create_graph");
	sg_spi_connect();
	values[0] = CStringGetTextDatum(graph);
	values[1] = JsonbPGetDatum(sg_jb_finish(&b));
	/* (DEFINE_INSERT: a graph of that name created by another session meanwhile too) */
	if (graph_exists(graph) ||
		sg_spi_run("INSERT INTO stategraph.graphs (graph, channels) VALUES ($1, $2) "
				   "ON CONFLICT (graph) DO NOTHING", 2, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("graph \"%s\" already exists", graph),
				 errhint("Drop it first with sg_drop_graph().")));
	/* a new graph starts empty, whatever a past one of its name left behind */
	if (!sg_schema_is_010())
	{
		sg_spi_run("DELETE FROM stategraph.nodes WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
		sg_spi_run("DELETE FROM stategraph.edges WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
		sg_spi_run("DELETE FROM stategraph.branches WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
		sg_spi_run("DELETE FROM stategraph.retention WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL);
	}
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_add_node
 * ---------------------------------------------------------------------------
 */

/* Validate a retry policy: {"max_attempts", "backoff_ms", "sqlstates"}. */
static void
check_retry(Jsonb *retry, const char *node)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *key;

	if (!sg_jsonb_is_object(retry))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retry policy of node \"%s\" must be a JSON object", node),
				 errhint("For example '{\"max_attempts\": 3, \"backoff_ms\": 100, \"sqlstates\": [\"40001\", \"40P01\"]}'.")));
	it = JsonbIteratorInit(&retry->root);
	while (sg_jsonb_next_pair(&it, &key, &v))
	{
		Jsonb	   *val = sg_jsonb_from_value(&v);

		if (strcmp(key, "max_attempts") == 0 || strcmp(key, "backoff_ms") == 0)
		{
			int64		n = -1;
			int64		max = strcmp(key, "max_attempts") == 0 ? 100 : 3600000;
			int64		min = strcmp(key, "max_attempts") == 0 ? 1 : 0;

			if (v.type == jbvNumeric)
			{
				bool		have_error = false;

				n = numeric_int4_opt_error(v.val.numeric, &have_error);
				/* 2.5 would round: only whole numbers are taken */
				if (have_error ||
					!DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(v.val.numeric),
													  DirectFunctionCall1(int4_numeric, Int32GetDatum((int32) n)))))
					n = -1;
			}
			if (n < min || n > max)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s of node \"%s\" must be an integer from " INT64_FORMAT " to " INT64_FORMAT,
								key, node, min, max)));
		}
		else if (strcmp(key, "sqlstates") == 0)
		{
			int			i,
						n = sg_jsonb_array_length(val);

			if (!sg_jsonb_is_array(val))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sqlstates of node \"%s\" must be an array of SQLSTATE codes", node)));
			for (i = 0; i < n; i++)
			{
				char	   *s = sg_jsonb_as_cstring(sg_jsonb_array_get(val, i));

				if (s == NULL || strlen(s) != 5 || strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("sqlstates of node \"%s\" must be an array of SQLSTATE codes", node),
							 errdetail("A SQLSTATE is five digits or upper-case letters, such as \"40001\".")));
			}
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in the retry policy of node \"%s\"", key, node),
					 errhint("A retry policy has max_attempts, backoff_ms and sqlstates.")));
	}
}

/*
 * Whether a function stored in the draft of a graph of owner (its
 * signature, and bound: the owner it was bound to) no longer serves: it was
 * dropped, or belongs to another role now (owner_ok). sg_add_node and
 * sg_add_conditional_edges replace such a function.
 */
static bool
unbound(const char *stored, const char *bound, const char *owner)
{
	Oid			fn = resolve_stored(stored);

	return !OidIsValid(fn) || !owner_ok(fn, bound, owner);
}

/*
 * The arguments of sg_add_node and sg_add_conditional_edges, (graph, a
 * node, a function, jsonb or NULL), and the same as the parameters $1..$4
 * of their statements; $5 is the function's owner, whom it is bound to.
 */
typedef struct DraftArgs
{
	char	   *graph;
	char	   *node;
	Oid			fn;
	Jsonb	   *extra;			/* retry policy, path_map */
	Oid			types[5];
	Datum		values[5];
	char		nulls[5];
} DraftArgs;

/* How many of a DraftArgs' parameters a statement takes (0.1.0's schema has no owners). */
#define DRAFT_NARGS (sg_schema_is_010() ? 4 : 5)

/* Read the arguments of sg_add_node or sg_add_conditional_edges (fn_arg: the function's name). */
static void
draft_args(FunctionCallInfo fcinfo, DraftArgs *a, const char *node_arg, const char *fn_arg)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID};

	a->graph = sg_arg_text(fcinfo, 0, "graph");
	a->node = sg_arg_text(fcinfo, 1, node_arg);
	a->extra = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	sg_require_arg(fcinfo, 2, fn_arg);
	a->fn = PG_GETARG_OID(2);
	memcpy(a->types, types, sizeof(types));
	a->values[0] = CStringGetTextDatum(a->graph);
	a->values[1] = CStringGetTextDatum(a->node);
	a->values[2] = CStringGetTextDatum(format_procedure_qualified(a->fn));	/* kept by signature */
	a->values[3] = a->extra ? JsonbPGetDatum(a->extra) : (Datum) 0;
	memset(a->nulls, ' ', sizeof(a->nulls));
	a->nulls[3] = a->extra ? ' ' : 'n';
	a->nulls[4] = 'n';			/* draft_args_owner, once the function is checked */
}

/* $5 of a DraftArgs: its function's owner (the function checked: it exists). */
static void
draft_args_owner(DraftArgs *a)
{
	a->values[4] = CStringGetTextDatum(function_owner(a->fn));
	a->nulls[4] = ' ';
}

/* sg_add_node(graph, node, fn, retry): add a node to the draft. */
Datum
sg_add_node(PG_FUNCTION_ARGS)
{
	DraftArgs	a;
	Jsonb	   *channels;

	draft_args(fcinfo, &a, "node", "fn");
	sg_check_name("node", a.node);
	check_signature(a.fn, SIG_NODE, psprintf("node \"%s\"", a.node));
	draft_args_owner(&a);
	if (a.extra)
		check_retry(a.extra, a.node);

	sg_prevent_write("sg_add_node");
	sg_spi_connect();
	sg_graph_require_owner(a.graph);
	channels = graph_channels(a.graph);
	if (sg_jsonb_get(channels, a.node) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node name \"%s\" is already used by a channel of graph \"%s\"", a.node, a.graph),
				 errhint("Nodes and channels share one namespace, as in LangGraph; rename the node.")));
	if (sg_spi_run(sg_schema_is_010() ?
				   "SELECT fn, NULL::pg_catalog.text FROM stategraph.nodes "
				   "WHERE graph OPERATOR(pg_catalog.=) $1 AND node OPERATOR(pg_catalog.=) $2" :
				   "SELECT fn, fn_owner::pg_catalog.text FROM stategraph.nodes "
				   "WHERE graph OPERATOR(pg_catalog.=) $1 AND node OPERATOR(pg_catalog.=) $2",
				   2, a.types, a.values, NULL) == 0)
	{
		/* (DEFINE_INSERT: another session's node, just added, is bound to its function) */
		if (sg_spi_run(sg_schema_is_010() ?
					   "INSERT INTO stategraph.nodes (graph, node, fn, retry) VALUES ($1, $2, $3::pg_catalog.regprocedure, $4) "
					   "ON CONFLICT (graph, node) DO NOTHING" :
					   "INSERT INTO stategraph.nodes (graph, node, fn, retry, fn_owner) VALUES ($1, $2, $3, $4, $5) "
					   "ON CONFLICT (graph, node) DO NOTHING",
					   DRAFT_NARGS, a.types, a.values, a.nulls) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("node \"%s\" already exists in graph \"%s\"", a.node, a.graph)));
	}
	else
	{
		char	   *stored = sg_spi_text(0, 1);	/* NULL: an external node */
		char	   *bound = sg_spi_text(0, 2);

		/*
		 * Only a node whose function was dropped, or is now another role's
		 * (owner_ok), is given a new one.
		 */
		if (stored == NULL || !unbound(stored, bound, graph_owner(a.graph)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("node \"%s\" already exists in graph \"%s\"", a.node, a.graph)));
		sg_spi_run(sg_schema_is_010() ?
				   "UPDATE stategraph.nodes SET fn = $3::pg_catalog.regprocedure, retry = $4 "
				   "WHERE graph OPERATOR(pg_catalog.=) $1 AND node OPERATOR(pg_catalog.=) $2" :
				   "UPDATE stategraph.nodes SET fn = $3, retry = $4, fn_owner = $5 "
				   "WHERE graph OPERATOR(pg_catalog.=) $1 AND node OPERATOR(pg_catalog.=) $2",
				   DRAFT_NARGS, a.types, a.values, a.nulls);
	}
	sg_spi_finish();
	PG_RETURN_VOID();
}

/*
 * sg_add_external_node: a node whose tasks application workers claim from
 * queue (tasks.c); it has a retry policy and a lease instead of a function.
 */
Datum
sg_add_external_node(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	char	   *node = sg_arg_text(fcinfo, 1, "node");
	char	   *queue = sg_arg_text(fcinfo, 2, "queue");
	Jsonb	   *retry = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	Interval   *lease;
	Jsonb	   *channels;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};
	Oid			all_types[5] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID, INTERVALOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', retry ? ' ' : 'n', ' '};

	sg_require_arg(fcinfo, 4, "lease");
	lease = PG_GETARG_INTERVAL_P(4);
	sg_check_name("node", node);
	sg_check_name("queue", queue);
	if (sg_interval_ms(lease) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease of node \"%s\" must be positive", node),
				 errhint("A lease is how long a worker may hold a task without a heartbeat, such as '60 seconds'.")));
	/* (the compiled spec keeps the lease in int4 milliseconds) */
	if (sg_interval_ms(lease) > SG_MAX_LEASE_MS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease of node \"%s\" must be at most 24 days", node),
				 errhint("A worker keeps a longer task with sg_heartbeat, which extends the lease.")));
	if (retry)
		check_retry(retry, node);

	sg_prevent_write("sg_add_external_node");
	sg_spi_connect();
	sg_graph_require_owner(graph);
	channels = graph_channels(graph);
	if (sg_jsonb_get(channels, node) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node name \"%s\" is already used by a channel of graph \"%s\"", node, graph),
				 errhint("Nodes and channels share one namespace, as in LangGraph; rename the node.")));
	values[0] = CStringGetTextDatum(graph);
	values[1] = CStringGetTextDatum(node);
	values[2] = CStringGetTextDatum(queue);
	values[3] = retry ? JsonbPGetDatum(retry) : (Datum) 0;
	values[4] = IntervalPGetDatum(lease);
	/* (DEFINE_INSERT) */
	if (sg_spi_run("SELECT 1 FROM stategraph.nodes WHERE graph OPERATOR(pg_catalog.=) $1 AND node OPERATOR(pg_catalog.=) $2",
				   2, types, values, NULL) != 0 ||
		sg_spi_run("INSERT INTO stategraph.nodes (graph, node, queue, retry, lease) VALUES ($1, $2, $3, $4, $5) "
				   "ON CONFLICT (graph, node) DO NOTHING", 5, all_types, values, nulls) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node \"%s\" already exists in graph \"%s\"", node, graph)));
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_add_edge, sg_add_conditional_edges
 * ---------------------------------------------------------------------------
 */
static void
check_edge_ends(const char *source, const char *target)
{
	if (source && strcmp(source, SG_END_NAME) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("__end__ cannot be the source of an edge")));
	if (target && strcmp(target, SG_START_NAME) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("__start__ cannot be the target of an edge")));
}

/* A name and where it stands in a list (first_repeat). */
typedef struct NamePos
{
	const char *name;
	int			pos;
} NamePos;

static int
cmp_name_pos(const void *a, const void *b)
{
	const NamePos *x = a;
	const NamePos *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/*
 * The first position of names[0..n) whose name an earlier one has, or -1
 * (NULL entries are skipped): by a sort, O(n log n). A comparison with
 * every earlier name made a join of 20,000 sources take 2 x 10^8 of them.
 */
static int
first_repeat(char **names, int n)
{
	NamePos    *sorted = palloc(sizeof(NamePos) * (n + 1));
	int			m = 0,
				first = -1,
				i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL)
		{
			sorted[m].name = names[i];
			sorted[m++].pos = i;
		}
	qsort(sorted, m, sizeof(NamePos), cmp_name_pos);
	/* a name met again: the earliest of these second places is the repeat */
	for (i = 1; i < m; i++)
		if (strcmp(sorted[i].name, sorted[i - 1].name) == 0 && (first < 0 || sorted[i].pos < first))
			first = sorted[i].pos;
	pfree(sorted);
	return first;
}

/*
 * The most an entry of a btree index may take (BTMaxItemSize of a page of
 * BLCKSZ bytes): 2704 bytes.
 */
#define SG_EDGE_KEY_MAX \
	MAXALIGN_DOWN((BLCKSZ - \
				   MAXALIGN(SizeOfPageHeaderData + 3 * sizeof(ItemIdData) + 3 * sizeof(ItemPointerData)) - \
				   MAXALIGN(sizeof(BTPageOpaqueData))) / 3)

/*
 * The size of an edge's entry in stategraph.edges' primary key (graph,
 * sources, target), computed as index_form_tuple forms it: each value of
 * more than TOAST_INDEX_TARGET bytes compressed (by the default method)
 * when that makes it smaller.
 */
static Size
edge_key_size(Datum *values)
{
	TupleDesc	desc = CreateTemplateTupleDesc(3);
	Datum		key[3];
	bool		isnull[3] = {false, false, false};
	int			i;

	TupleDescInitEntry(desc, 1, "graph", TEXTOID, -1, 0);
	TupleDescInitEntry(desc, 2, "sources", TEXTARRAYOID, -1, 1);
	TupleDescInitEntry(desc, 3, "target", TEXTOID, -1, 0);
	for (i = 0; i < 3; i++)
	{
		key[i] = values[i];
		if (!VARATT_IS_EXTENDED(DatumGetPointer(values[i])) &&
			VARSIZE(DatumGetPointer(values[i])) > TOAST_INDEX_TARGET)
		{
			Datum		c = toast_compress_datum(values[i], InvalidCompressionMethod);

			if (DatumGetPointer(c) != NULL)
				key[i] = c;
		}
	}
	return MAXALIGN(IndexInfoFindDataOffset(0) + heap_compute_data_size(desc, key, isnull));
}

/*
 * Add an edge (sources as a text array, nsources of them) to a graph's
 * draft. A join whose names do not fit in an entry of the draft's index
 * is refused here, not by the index's own error.
 */
static void
insert_edge(const char *graph, Datum sources, int nsources, const char *target)
{
	Oid			types[3] = {TEXTOID, TEXTARRAYOID, TEXTOID};
	Datum		values[3];
	Size		size;

	sg_spi_connect();
	sg_graph_require_owner(graph);
	values[0] = CStringGetTextDatum(graph);
	values[1] = sources;
	values[2] = CStringGetTextDatum(target);
	size = edge_key_size(values);
	if (size > SG_EDGE_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("join edge of %d sources to \"%s\" is too large for the draft of graph \"%s\"",
						nsources, target, graph),
				 errdetail("An edge's graph, sources and target take at most %zu bytes in the draft's index (compressed); these take %zu.",
						   (Size) SG_EDGE_KEY_MAX, size),
				 errhint("Give the sources shorter names, or join them in stages: joins into nodes that are joined in turn.")));
	/* adding the same edge twice changes nothing, as in LangGraph */
	sg_spi_run("INSERT INTO stategraph.edges (graph, sources, target) VALUES ($1, $2, $3) "
			   "ON CONFLICT DO NOTHING", 3, types, values, NULL);
	sg_spi_finish();
}

/* sg_add_edge(graph, source, target): add an edge to the draft. */
Datum
sg_add_edge(PG_FUNCTION_ARGS)
{
	char	   *source = sg_arg_text(fcinfo, 1, "source");
	char	   *target = sg_arg_text(fcinfo, 2, "target");
	Datum		sources;

	check_edge_ends(source, target);
	sources = CStringGetTextDatum(source);
	sources = PointerGetDatum(construct_array(&sources, 1, TEXTOID, -1, false, TYPALIGN_INT));
	sg_prevent_write("sg_add_edge");
	insert_edge(sg_arg_text(fcinfo, 0, "graph"), sources, 1, target);
	PG_RETURN_VOID();
}

/* sg_add_edge(graph, sources text[], target): target waits for every source. */
Datum
sg_add_join_edge(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	char	   *target = sg_arg_text(fcinfo, 2, "target");
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	char	  **names;
	int			n,
				i,
				repeat;

	sg_require_arg(fcinfo, 1, "sources");
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sources must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sources must not be empty")));
	names = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
		names[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	repeat = first_repeat(names, n);
	for (i = 0; i < n; i++)
	{
		char	   *s = names[i];

		CHECK_FOR_INTERRUPTS();
		if (s == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("sources must not contain nulls")));
		if (s[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sources must not contain empty names")));
		sg_check_length(s, "source", "Names and ids");	/* as sg_add_edge's source */
		check_edge_ends(s, target);
		if (i == repeat)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" appears twice in a join edge", s)));
	}
	check_edge_ends(NULL, target);
	/* stored as a plain array: '[0:1]={b,c}' is the join {b,c}, not another one */
	sg_prevent_write("sg_add_edge");
	insert_edge(graph, PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT)), n, target);
	PG_RETURN_VOID();
}

/* path_map: NULL, an array of node names, or an object of router value -> node name. */
static void
check_path_map(Jsonb *path_map)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!sg_jsonb_is_object(path_map) && !sg_jsonb_is_array(path_map))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path_map must be a JSON array of node names or an object mapping router results to node names")));
	if (JB_ROOT_COUNT(path_map) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path_map must not be empty"),
				 errhint("Leave path_map out to let the router go to any node.")));
	it = JsonbIteratorInit(&path_map->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		if (v.type != jbvString || v.val.string.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path_map must be a JSON array of node names or an object mapping router results to node names"),
					 errdetail("Every destination must be a non-empty string.")));
		sg_check_length(pnstrdup(v.val.string.val, v.val.string.len), "path_map destination", "Names");
		if (v.val.string.len == strlen(SG_START_NAME) &&
			memcmp(v.val.string.val, SG_START_NAME, v.val.string.len) == 0)
			check_edge_ends(NULL, SG_START_NAME);
	}
}

/*
 * Conditional edges of a node (key: graph, source) whose router no longer
 * resolves, or belongs to another role now (unbound), are dropped, so that
 * the node can take a new router.
 */
static void
forget_dropped_routers(Datum *key, const char *graph)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	char	   *owner = graph_owner(graph);
	uint64		n = sg_spi_run(sg_schema_is_010() ?
							   "SELECT router, NULL::pg_catalog.text FROM stategraph.branches "
							   "WHERE graph OPERATOR(pg_catalog.=) $1 AND source OPERATOR(pg_catalog.=) $2" :
							   "SELECT router, router_owner::pg_catalog.text FROM stategraph.branches "
							   "WHERE graph OPERATOR(pg_catalog.=) $1 AND source OPERATOR(pg_catalog.=) $2",
							   2, types, key, NULL);
	SPITupleTable *routers = SPI_tuptable;
	uint64		i;

	for (i = 0; i < n; i++)
	{
		char	   *stored = SPI_getvalue(routers->vals[i], routers->tupdesc, 1);
		char	   *bound = SPI_getvalue(routers->vals[i], routers->tupdesc, 2);
		Datum		values[3] = {key[0], key[1], CStringGetTextDatum(stored)};

		if (unbound(stored, bound, owner))
			sg_spi_run(psprintf("DELETE FROM stategraph.branches WHERE graph OPERATOR(pg_catalog.=) $1 "
								"AND source OPERATOR(pg_catalog.=) $2 AND router OPERATOR(pg_catalog.=) $3%s",
								SIGNATURE_CAST), 3, types, values, NULL);
	}
}

/* sg_add_conditional_edges(graph, source, router, path_map): add a router to a node of the draft. */
Datum
sg_add_conditional_edges(PG_FUNCTION_ARGS)
{
	DraftArgs	a;

	draft_args(fcinfo, &a, "source", "router");
	check_edge_ends(a.node, NULL);
	check_signature(a.fn, SIG_ROUTER, psprintf("router of node \"%s\"", a.node));
	draft_args_owner(&a);
	if (a.extra)
		check_path_map(a.extra);
	if (get_func_rettype(a.fn) == BOOLOID && (a.extra == NULL || !sg_jsonb_is_object(a.extra)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the router of node \"%s\" returns boolean, so it needs a path_map object", a.node),
				 errhint("For example '{\"true\": \"a\", \"false\": \"b\"}'.")));

	sg_prevent_write("sg_add_conditional_edges");
	sg_spi_connect();
	sg_graph_require_owner(a.graph);
	forget_dropped_routers(a.values, a.graph);
	/* routers of one source run in the order they were added (DEFINE_INSERT) */
	if (sg_spi_run(psprintf("SELECT 1 FROM stategraph.branches WHERE graph OPERATOR(pg_catalog.=) $1 "
							"AND source OPERATOR(pg_catalog.=) $2 AND router OPERATOR(pg_catalog.=) $3%s",
							SIGNATURE_CAST), 3, a.types, a.values, NULL) > 0 ||
		sg_spi_run(sg_schema_is_010() ?
				   "INSERT INTO stategraph.branches (graph, source, router, path_map) "
				   "VALUES ($1, $2, $3::pg_catalog.regprocedure, $4) ON CONFLICT (graph, source, router) DO NOTHING" :
				   "INSERT INTO stategraph.branches (graph, source, router, path_map, ordinal, router_owner) "
				   "SELECT $1, $2, $3, $4, COALESCE(pg_catalog.max(ordinal), 0) OPERATOR(pg_catalog.+) 1, $5 "
				   "FROM stategraph.branches WHERE graph OPERATOR(pg_catalog.=) $1 "
				   "ON CONFLICT (graph, source, router) DO NOTHING",
				   DRAFT_NARGS, a.types, a.values, a.nulls) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node \"%s\" of graph \"%s\" already has conditional edges with router %s",
						a.node, a.graph, format_procedure(a.fn))));
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * sg_compile: validate the draft and freeze it
 * ---------------------------------------------------------------------------
 */
typedef struct DraftEdge
{
	int			nsources;
	char	  **sources;
	char	   *target;
} DraftEdge;

typedef struct DraftBranch
{
	char	   *source;
	Oid			router;
	Jsonb	   *path_map;
} DraftBranch;

typedef struct Draft
{
	char	   *owner;			/* the graph's owner (NULL: 0.1.0's schema) */
	int			nnodes;
	char	  **nodes;			/* sorted by name */
	Oid		   *fns;			/* InvalidOid: an external node */
	Jsonb	  **retries;
	char	  **queues;			/* external nodes: their queue */
	int		   *leases;			/* external nodes: their lease in ms */
	int			nedges;
	DraftEdge  *edges;
	int			nbranches;
	DraftBranch *branches;
} Draft;

/*
 * The index of a node of the draft (d->nnodes for __start__), or -1. A
 * binary search: the nodes are sorted by name in the "C" collation, the
 * order of strcmp. (A scan of the nodes made sg_compile of a graph of N
 * nodes take O(N^2) lookups at least.)
 */
static int
draft_node(Draft *d, const char *name)
{
	if (strcmp(name, SG_START_NAME) == 0)
		return d->nnodes;		/* START is the slot after the nodes */
	return sg_sorted_index(name, d->nodes, d->nnodes, sizeof(char *));
}

/* A name in an edge must be a node, or __start__ / __end__ where they fit. */
static void
require_draft_node(Draft *d, const char *graph, const char *name, const char *role, bool end_ok)
{
	if (end_ok && strcmp(name, SG_END_NAME) == 0)
		return;
	if (draft_node(d, name) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" of graph \"%s\" is not a node", role, name, graph),
				 errhint("Add it with sg_add_node() before compiling.")));
}

/* The draft's nodes, by name: their columns, and the numbers they are read by. */
#define DRAFT_NODE_COLUMNS		"node, fn, retry, queue, " \
	"lease, " \
	"fn_owner::pg_catalog.text"
#define Anum_draft_node_node	1
#define Anum_draft_node_fn		2
#define Anum_draft_node_retry	3
#define Anum_draft_node_queue	4		/* external nodes */
#define Anum_draft_node_lease_ms 5
#define Anum_draft_node_fn_owner 6
#define DRAFT_NODES_QUERY \
	"SELECT " DRAFT_NODE_COLUMNS " FROM stategraph.nodes " \
	"WHERE graph OPERATOR(pg_catalog.=) $1 ORDER BY node COLLATE pg_catalog.\"C\""
/* (0.1.0's schema, until ALTER EXTENSION UPDATE: no external nodes) */
#define DRAFT_NODES_QUERY_010 \
	"SELECT node, fn, retry, NULL::pg_catalog.text, NULL::pg_catalog.int4, NULL::pg_catalog.text FROM stategraph.nodes " \
	"WHERE graph OPERATOR(pg_catalog.=) $1 ORDER BY node COLLATE pg_catalog.\"C\""

/* The draft's edges. */
#define DRAFT_EDGE_COLUMNS		"sources, target"
#define Anum_draft_edge_sources	1
#define Anum_draft_edge_target	2
#define DRAFT_EDGES_QUERY \
	"SELECT " DRAFT_EDGE_COLUMNS " FROM stategraph.edges " \
	"WHERE graph OPERATOR(pg_catalog.=) $1 ORDER BY sources COLLATE pg_catalog.\"C\", target COLLATE pg_catalog.\"C\""

/* The draft's conditional edges. */
#define DRAFT_BRANCH_COLUMNS		"source, router, path_map"
#define Anum_draft_branch_source	1
#define Anum_draft_branch_router	2
#define Anum_draft_branch_path_map	3
#define Anum_draft_branch_router_owner 4
#define DRAFT_BRANCHES_QUERY \
	"SELECT " DRAFT_BRANCH_COLUMNS ", router_owner::pg_catalog.text FROM stategraph.branches " \
	"WHERE graph OPERATOR(pg_catalog.=) $1 ORDER BY source COLLATE pg_catalog.\"C\", ordinal, router COLLATE pg_catalog.\"C\""
/*
 * (router: two routers of one source added at once by two transactions
 * get one ordinal, each computed without the other's row; their order was
 * then the table's, which a plan, an update of a row or a restore changes)
 */
/* (0.1.0's schema, until ALTER EXTENSION UPDATE: no ordinal, routers by OID, no owners) */
#define DRAFT_BRANCHES_QUERY_010 \
	"SELECT " DRAFT_BRANCH_COLUMNS ", NULL::pg_catalog.text FROM stategraph.branches " \
	"WHERE graph OPERATOR(pg_catalog.=) $1 ORDER BY source COLLATE pg_catalog.\"C\", router::pg_catalog.oid"

/* Run a query of a graph's draft ($1: the graph); returns how many rows it found. */
static int
draft_query(const char *sql, const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};

	return (int) sg_spi_run(sql, 1, types, values, NULL);
}

/* Node i of the draft from row i of its query (DRAFT_NODE_COLUMNS). */
static void
draft_node_row(Draft *d, int i, const char *graph)
{
	char	   *fn = sg_spi_text(i, Anum_draft_node_fn);
	bool		isnull;
	Datum		v;

	d->nodes[i] = sg_spi_text(i, Anum_draft_node_node);
	/* external nodes have no function */
	d->fns[i] = fn == NULL ? InvalidOid :
		graph_function(fn, sg_spi_text(i, Anum_draft_node_fn_owner), d->owner, graph, SIG_NODE,
					   psprintf("node \"%s\"", d->nodes[i]), true);
	d->retries[i] = sg_spi_jsonb(i, Anum_draft_node_retry);
	d->queues[i] = sg_spi_text(i, Anum_draft_node_queue);
	v = sg_spi_datum(i, Anum_draft_node_lease_ms, &isnull);
	/* sg_add_external_node's check counted it so: '0.5 ms' is 1 ms, not 0 */
	if (!isnull)
	{
		/* one written into stategraph.nodes past that check: -1, which the spec refuses (spec_problem) */
		int64		ms = sg_interval_ms(DatumGetIntervalP(v));

		d->leases[i] = ms < 1 || ms > SG_MAX_LEASE_MS ? -1 : (int) ms;
	}
	else
		d->leases[i] = 0;
}

/* An edge of the draft from a row of its query (DRAFT_EDGE_COLUMNS). */
static void
draft_edge_row(DraftEdge *e, int row)
{
	bool		isnull;
	ArrayType  *arr = DatumGetArrayTypePCopy(sg_spi_datum(row, Anum_draft_edge_sources, &isnull));
	Datum	   *elems;
	int			j;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, NULL, &e->nsources);
	e->sources = palloc(sizeof(char *) * e->nsources);
	for (j = 0; j < e->nsources; j++)
		e->sources[j] = TextDatumGetCString(elems[j]);
	e->target = sg_spi_text(row, Anum_draft_edge_target);
}

/* A conditional edge of the draft from a row of its query (DRAFT_BRANCH_COLUMNS). */
static void
draft_branch_row(Draft *d, DraftBranch *br, int row, const char *graph)
{
	br->source = sg_spi_text(row, Anum_draft_branch_source);
	br->router = graph_function(sg_spi_text(row, Anum_draft_branch_router),
								sg_spi_text(row, Anum_draft_branch_router_owner), d->owner, graph, SIG_ROUTER,
								psprintf("the router of node \"%s\"", br->source), true);
	br->path_map = sg_spi_jsonb(row, Anum_draft_branch_path_map);
}

/* Read a graph's draft: its nodes (sorted by name), edges and conditional edges. */
static void
load_draft(const char *graph, Draft *d)
{
	int			i;

	d->owner = graph_owner(graph);
	d->nnodes = draft_query(sg_schema_is_010() ? DRAFT_NODES_QUERY_010 : DRAFT_NODES_QUERY, graph);
	d->nodes = palloc0(sizeof(char *) * (d->nnodes + 1));
	d->fns = palloc0(sizeof(Oid) * (d->nnodes + 1));
	d->retries = palloc0(sizeof(Jsonb *) * (d->nnodes + 1));
	d->queues = palloc0(sizeof(char *) * (d->nnodes + 1));
	d->leases = palloc0(sizeof(int) * (d->nnodes + 1));
	for (i = 0; i < d->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		draft_node_row(d, i, graph);
	}

	d->nedges = draft_query(DRAFT_EDGES_QUERY, graph);
	d->edges = palloc0(sizeof(DraftEdge) * (d->nedges + 1));
	for (i = 0; i < d->nedges; i++)
	{
		CHECK_FOR_INTERRUPTS();
		draft_edge_row(&d->edges[i], i);
	}

	d->nbranches = draft_query(sg_schema_is_010() ? DRAFT_BRANCHES_QUERY_010 : DRAFT_BRANCHES_QUERY, graph);
	d->branches = palloc0(sizeof(DraftBranch) * (d->nbranches + 1));
	for (i = 0; i < d->nbranches; i++)
	{
		CHECK_FOR_INTERRUPTS();
		draft_branch_row(d, &d->branches[i], i, graph);
	}
}

/* Names listed in interrupt_before / interrupt_after: nodes, or "*" for all. */
static void
interrupt_list(SGJsonBuilder *b, Draft *d, const char *graph, ArrayType *arr, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				k;

	sg_jb_begin_array(b);
	if (arr != NULL)
	{
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		for (i = 0; i < n; i++)
		{
			char	   *name;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("%s must not contain nulls", what)));
			name = TextDatumGetCString(elems[i]);
			if (strcmp(name, "*") == 0)
			{
				for (k = 0; k < d->nnodes; k++)
					sg_jb_string(b, d->nodes[k]);
				continue;
			}
			k = draft_node(d, name);
			if (k < 0 || k == d->nnodes)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("%s names \"%s\", which is not a node of graph \"%s\"", what, name, graph)));
			sg_jb_string(b, name);
		}
	}
	sg_jb_end_array(b);
}

/*
 * Whether a path_map is absent, an array of names or an object of names, as
 * sg_add_conditional_edges stores it (stategraph.branches is written by its
 * owners' SQL too, and readers take its values for strings).
 */
static bool
path_map_ok(Jsonb *pm)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (pm == NULL)
		return true;
	if (!sg_jsonb_is_array(pm) && !sg_jsonb_is_object(pm))
		return false;
	it = JsonbIteratorInit(&pm->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type != jbvString)
			return false;
	return true;
}

/*
 * The reachability walk of validate_draft: the slots reached (the nodes,
 * d->nnodes for __start__), and those whose ways out are still to follow.
 */
typedef struct DraftReach
{
	bool	   *reached;
	int		   *todo;			/* each slot enters once: nnodes + 1 at most */
	int			ntodo;
	bool		all;			/* every node reached already */
} DraftReach;

/* Reach slot i (-1, __end__, is no slot). */
static void
reach_slot(DraftReach *r, int i)
{
	if (i >= 0 && !r->reached[i])
	{
		r->reached[i] = true;
		r->todo[r->ntodo++] = i;
	}
}

/* Reach the destinations of a branch: its path_map's nodes, or every node. */
static void
reach_branch_targets(Draft *d, DraftBranch *br, DraftReach *r)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			i;

	if (br->path_map == NULL)
	{
		if (!r->all)
			for (i = 0; i < d->nnodes; i++)
				reach_slot(r, i);
		r->all = true;
		return;
	}
	it = JsonbIteratorInit(&br->path_map->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_VALUE && tok != WJB_ELEM)
			continue;
		i = draft_node(d, pnstrdup(v.val.string.val, v.val.string.len));
		if (i < d->nnodes)		/* (not __start__) */
			reach_slot(r, i);
	}
}

/*
 * Mark the slots reachable from __start__: an edge leads on once all its
 * sources are reached (a join needs every one), a conditional edge to all
 * its destinations once its source is. A walk that follows each slot's
 * ways out once, counting for each edge the sources not reached yet:
 * O(nodes + edges). It replaced passes over all edges until none reached
 * anything new, each looking every name up by a scan of the nodes: a
 * chain whose names sort against its order took a pass per node, O(N^3),
 * and no interrupt was checked (a graph of 3,000 nodes compiled for
 * minutes, beyond its statement_timeout).
 */
static void
draft_reach(Draft *d, bool *reached)
{
	int			nslots = d->nnodes + 1;
	int		   *missing = palloc(sizeof(int) * (d->nedges + 1));	/* sources not reached */
	int		   *target = palloc(sizeof(int) * (d->nedges + 1));
	int		   *first = palloc0(sizeof(int) * (nslots + 1));	/* a slot's edges in out[first[s]..first[s+1]) */
	int		   *out;
	int		   *fill;
	int		   *bfirst = palloc0(sizeof(int) * (nslots + 1));	/* and branches in bout[] */
	int		   *bout = palloc(sizeof(int) * (d->nbranches + 1));
	int			nout = 0;
	DraftReach	r;
	int			i,
				j;

	/* each edge once for each of its sources (a name listed twice twice: counted as often) */
	for (i = 0; i < d->nedges; i++)
	{
		CHECK_FOR_INTERRUPTS();
		missing[i] = d->edges[i].nsources;
		target[i] = draft_node(d, d->edges[i].target);
		for (j = 0; j < d->edges[i].nsources; j++)
			first[draft_node(d, d->edges[i].sources[j]) + 1]++;
		nout += d->edges[i].nsources;
	}
	for (i = 0; i < nslots; i++)
		first[i + 1] += first[i];
	out = palloc(sizeof(int) * (nout + 1));
	fill = palloc(sizeof(int) * (nslots + 1));
	memcpy(fill, first, sizeof(int) * (nslots + 1));
	for (i = 0; i < d->nedges; i++)
		for (j = 0; j < d->edges[i].nsources; j++)
			out[fill[draft_node(d, d->edges[i].sources[j])]++] = i;

	for (i = 0; i < d->nbranches; i++)
		bfirst[draft_node(d, d->branches[i].source) + 1]++;
	for (i = 0; i < nslots; i++)
		bfirst[i + 1] += bfirst[i];
	memcpy(fill, bfirst, sizeof(int) * (nslots + 1));
	for (i = 0; i < d->nbranches; i++)
		bout[fill[draft_node(d, d->branches[i].source)]++] = i;

	r.reached = reached;
	r.todo = palloc(sizeof(int) * nslots);
	r.ntodo = 0;
	r.all = false;
	reach_slot(&r, d->nnodes);
	/* an edge of no sources (none is stored so) would lead on from the start */
	for (i = 0; i < d->nedges; i++)
		if (missing[i] == 0)
			reach_slot(&r, target[i]);
	while (r.ntodo > 0)
	{
		int			s = r.todo[--r.ntodo];

		CHECK_FOR_INTERRUPTS();
		for (j = first[s]; j < first[s + 1]; j++)
			if (--missing[out[j]] == 0)
				reach_slot(&r, target[out[j]]);
		for (j = bfirst[s]; j < bfirst[s + 1]; j++)
			reach_branch_targets(d, &d->branches[bout[j]], &r);
	}
}

/* Check names, entry point, dead ends and reachability. */
static void
validate_draft(Draft *d, const char *graph)
{
	bool	   *reach = palloc0(sizeof(bool) * (d->nnodes + 1));
	bool	   *way_out = palloc0(sizeof(bool) * (d->nnodes + 1));
	bool		has_entry = false;
	int			i,
				j;

	if (d->nnodes == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNREACHABLE_NODE),
				 errmsg("graph \"%s\" has no nodes", graph),
				 errhint("Add nodes with sg_add_node() and an edge from __start__.")));

	for (i = 0; i < d->nedges; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < d->edges[i].nsources; j++)
		{
			require_draft_node(d, graph, d->edges[i].sources[j], "edge source", false);
			if (strcmp(d->edges[i].sources[j], SG_START_NAME) == 0)
				has_entry = true;
			else
				way_out[draft_node(d, d->edges[i].sources[j])] = true;
		}
		require_draft_node(d, graph, d->edges[i].target, "edge target", true);
	}
	for (i = 0; i < d->nbranches; i++)
	{
		DraftBranch *br = &d->branches[i];

		CHECK_FOR_INTERRUPTS();
		require_draft_node(d, graph, br->source, "conditional edge source", false);
		if (strcmp(br->source, SG_START_NAME) == 0)
			has_entry = true;
		else
			way_out[draft_node(d, br->source)] = true;
		check_signature(br->router, SIG_ROUTER, psprintf("router of node \"%s\"", br->source));
		if (!path_map_ok(br->path_map))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("path_map of the conditional edge from \"%s\" in graph \"%s\" is damaged", br->source, graph),
					 errdetail("It is not an array of node names or an object mapping router results to node names."),
					 errhint("Add the conditional edge again with sg_add_conditional_edges().")));
		if (br->path_map)
		{
			JsonbIterator *it = JsonbIteratorInit(&br->path_map->root);
			JsonbValue	v;
			JsonbIteratorToken tok;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
				if (tok == WJB_VALUE || tok == WJB_ELEM)
					require_draft_node(d, graph, pnstrdup(v.val.string.val, v.val.string.len),
									   "path_map destination", true);
		}
	}
	for (i = 0; i < d->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(d->fns[i]))
			check_signature(d->fns[i], SIG_NODE, psprintf("node \"%s\"", d->nodes[i]));
	}

	if (!has_entry)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNREACHABLE_NODE),
				 errmsg("graph \"%s\" has no entry point", graph),
				 errhint("Add an edge from __start__, for example sg_add_edge('%s', '__start__', '%s').",
						 graph, d->nodes[0])));
	for (i = 0; i < d->nnodes; i++)
		if (!way_out[i])
			ereport(ERROR,
					(errcode(ERRCODE_SG_DEAD_END_NODE),
					 errmsg("node \"%s\" of graph \"%s\" is a dead end", d->nodes[i], graph),
					 errdetail("No edge leaves it."),
					 errhint("Add an edge from it to another node or to __end__.")));

	/* reachability from __start__ (slot d->nnodes); a join needs all its sources */
	draft_reach(d, reach);
	for (i = 0; i < d->nnodes; i++)
		if (!reach[i])
			ereport(ERROR,
					(errcode(ERRCODE_SG_UNREACHABLE_NODE),
					 errmsg("node \"%s\" of graph \"%s\" is unreachable", d->nodes[i], graph),
					 errdetail("No path of edges leads to it from __start__.")));
}

/*
 * One entry of a spec's nodes or conditional edges: {k1: s, k2: the
 * function's qualified signature, k3: extra, k2_owner: the function's
 * owner, the one it is bound to}, extra left out when NULL, the owner on
 * 0.1.0's schema. The function was checked against its binding (owner_ok)
 * already: its owner is that role, or the graph's owner.
 */
static void
spec_entry(SGJsonBuilder *b, Draft *d, const char *k1, const char *s, const char *k2, Oid fn,
		   const char *k3, Jsonb *extra)
{
	sg_jb_begin_object(b);
	sg_jb_string_field(b, k1, s);
	sg_jb_string_field(b, k2, format_procedure_qualified(fn));
	if (extra)
		sg_jb_field(b, k3, extra);
	if (d->owner != NULL)
		sg_jb_string_field(b, psprintf("%s_owner", k2), function_owner(fn));
	sg_jb_end_object(b);
}

/* An external node of a spec: {"name", "queue", "lease_ms", "retry"}. */
static void
spec_external_node(SGJsonBuilder *b, Draft *d, int i)
{
	sg_jb_begin_object(b);
	sg_jb_string_field(b, "name", d->nodes[i]);
	sg_jb_string_field(b, "queue", d->queues[i]);
	sg_jb_key(b, "lease_ms");
	sg_jb_int(b, d->leases[i]);
	if (d->retries[i])
		sg_jb_field(b, "retry", d->retries[i]);
	sg_jb_end_object(b);
}

/* The edges of a draft, as its spec lists them: [{"sources": [...], "target"}, ...]. */
static void
spec_edges(SGJsonBuilder *b, Draft *d)
{
	int			i,
				j;

	sg_jb_key(b, "edges");
	sg_jb_begin_array(b);
	for (i = 0; i < d->nedges; i++)
	{
		sg_jb_begin_object(b);
		sg_jb_key(b, "sources");
		sg_jb_begin_array(b);
		for (j = 0; j < d->edges[i].nsources; j++)
			sg_jb_string(b, d->edges[i].sources[j]);
		sg_jb_end_array(b);
		sg_jb_string_field(b, "target", d->edges[i].target);
		sg_jb_end_object(b);
	}
	sg_jb_end_array(b);
}

/*
 * The custom reducers of a graph's channels (checked by spec_problem; of a
 * graph of owner) still resolve, to functions of the owners they were bound
 * to (graph_function).
 */
static void
check_reducers(Jsonb *channels, const char *owner, const char *graph)
{
	JsonbIterator *it = JsonbIteratorInit(&channels->root);
	JsonbValue	v;
	char	   *name;

	while (sg_jsonb_next_pair(&it, &name, &v))
	{
		Jsonb	   *def = sg_jsonb_from_value(&v);

		if (!reducer_is_builtin(sg_jsonb_get_cstring(def, "reducer")))
			check_signature(graph_function(sg_jsonb_get_cstring(def, "fn"), sg_jsonb_get_cstring(def, "fn_owner"),
										   owner, graph, SIG_REDUCER, psprintf("the reducer of channel \"%s\"", name), false),
							SIG_REDUCER, psprintf("the reducer of channel \"%s\"", name));
	}
}

/* sg_compile(graph, interrupt_before, interrupt_after): validate the draft and freeze it as the spec runs use. */
Datum
sg_compile(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	ArrayType  *before = PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1);
	ArrayType  *after = PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2);
	Jsonb	   *channels;
	Draft		d;
	SGJsonBuilder b = {0};
	Oid			types[2] = {TEXTOID, JSONBOID};
	Datum		values[2];
	char	   *problem;
	int			i;

	sg_prevent_write("sg_compile");
	sg_spi_connect();
	sg_graph_require_owner(graph);
	channels = graph_channels(graph);
	load_draft(graph, &d);
	validate_draft(&d, graph);

	sg_jb_begin_object(&b);
	sg_jb_field(&b, "channels", channels);
	sg_jb_key(&b, "nodes");
	sg_jb_begin_array(&b);
	for (i = 0; i < d.nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (OidIsValid(d.fns[i]))
			spec_entry(&b, &d, "name", d.nodes[i], "fn", d.fns[i], "retry", d.retries[i]);
		else
			spec_external_node(&b, &d, i);
	}
	sg_jb_end_array(&b);
	spec_edges(&b, &d);
	sg_jb_key(&b, "branches");
	sg_jb_begin_array(&b);
	for (i = 0; i < d.nbranches; i++)
		spec_entry(&b, &d, "source", d.branches[i].source, "router", d.branches[i].router,
				   "path_map", d.branches[i].path_map);
	sg_jb_end_array(&b);
	sg_jb_key(&b, "interrupt_before");
	interrupt_list(&b, &d, graph, before, "interrupt_before");
	sg_jb_key(&b, "interrupt_after");
	interrupt_list(&b, &d, graph, after, "interrupt_after");
	sg_jb_end_object(&b);

	values[0] = CStringGetTextDatum(graph);
	values[1] = JsonbPGetDatum(sg_jb_finish(&b));
	/* the draft's rows are written by their owner's SQL too: a spec no run could load is refused here */
	if ((problem = spec_problem(DatumGetJsonbP(values[1]))) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("definition of graph \"%s\" is damaged", graph),
				 errdetail("%s", problem),
				 errhint("Drop the graph and create it again, or restore its rows in stategraph.graphs and stategraph.nodes.")));
	check_reducers(channels, d.owner, graph);
	sg_spi_run("UPDATE stategraph.graphs SET spec = $2, version = version OPERATOR(pg_catalog.+) 1, "
			   "compiled_at = pg_catalog.now() WHERE graph OPERATOR(pg_catalog.=) $1",
			   2, types, values, NULL);
	/* the new definition wins: tasks of nodes no longer external end, their runs go on */
	sg_tasks_cancel_graph(graph, DatumGetJsonbP(values[1]));
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* sg_drop_graph(graph): remove a graph (its threads stay). */
Datum
sg_drop_graph(PG_FUNCTION_ARGS)
{
	char	   *graph = sg_arg_text(fcinfo, 0, "graph");
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};

	sg_prevent_write("sg_drop_graph");
	sg_spi_connect();
	sg_graph_require_owner(graph);
	sg_spi_run("DELETE FROM stategraph.graphs WHERE graph OPERATOR(pg_catalog.=) $1",
			   1, types, values, NULL);
	sg_tasks_cancel_graph(graph, NULL);	/* its workers' results could not be taken */
	sg_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------------
 * The per-backend cache of compiled graphs
 * ---------------------------------------------------------------------------
 */
static List *graph_cache = NIL;		/* SGGraph *, in CacheMemoryContext */
static Oid	graphs_relid = InvalidOid;
static bool callbacks_registered = false;

/*
 * The external nodes of graphs as compiled now (sg_graph_node_is_external):
 * kept apart from the compiled graphs, since a backend that only claims
 * tasks needs no more of a graph, and a graph that cannot be built (a node
 * function dropped) must not make claims of its queue fail. Dropped with
 * the compiled graphs.
 */
typedef struct ExternalNodes
{
	char	   *graph;
	int			n;				/* 0 also for a graph gone or not compiled */
	char	  **names;
	bool		exists;			/* false: no graph of that name */
	int64		gen;			/* of the graph's row (graphs.gen) */
} ExternalNodes;
static List *external_cache = NIL;	/* ExternalNodes *, in external_cxt */
static MemoryContext external_cxt = NULL;

/* Drop every cached graph (freed now, or when the last call using it ends). */
static void
graph_cache_reset(void)
{
	ListCell   *lc;

	foreach(lc, graph_cache)
	{
		SGGraph    *g = (SGGraph *) lfirst(lc);

		if (g->pins > 0)
			g->stale = true;	/* freed by sg_graph_unpin */
		else
			MemoryContextDelete(g->cxt);
	}
	list_free(graph_cache);
	graph_cache = NIL;
	if (external_cxt != NULL)
		MemoryContextReset(external_cxt);
	external_cache = NIL;
}

/* A change to stategraph.graphs (or a reset of the relcache) drops the cache. */
static void
relcache_callback(Datum arg, Oid relid)
{
	/* InvalidOid: a reset of every relation, maybe after graphs was dropped */
	if (relid == InvalidOid || relid == graphs_relid)
	{
		graph_cache_reset();
		graphs_relid = InvalidOid;
	}
}

/* Any change to pg_proc drops the cache (a function of a graph may have changed). */
static void
proc_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	graph_cache_reset();
}

/* The statement trigger on stategraph.graphs: every backend drops its cached graphs. */
Datum
sg_graphs_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "sg_graphs_changed: not called by trigger manager");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}

/*
 * The row trigger BEFORE INSERT OR UPDATE OF gen ON stategraph.graphs: a
 * graph's generation (graphs.gen, which background runs and external tasks
 * are checked against) is the server's to give. A graph an ordinary role
 * inserts gets a new number whatever its row said: with a number of its
 * choosing, a role that made a graph again under a name could give it the
 * generation of the graph it took the name from, whose queued runs would
 * then run its nodes as their submitters. Nor may such a role change a
 * graph's number. Superusers (a restore, which loads the numbers its dump
 * had) write what they write; a role that bypasses row-level security is an
 * ordinary role here: a BYPASSRLS role that deleted a graph and made it
 * again under its name with its number had the graph's queued runs execute
 * its nodes as their submitters (stategraph.owner_writes() refuses that
 * delete now too).
 */
Datum
sg_graph_gen(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	AttrNumber	attnum;
	int			col;
	Datum		gen;
	bool		isnull = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.graph_gen() must be called as a row trigger before insert or update")));
	rel = td->tg_relation;
	/* on another table (a superuser's trigger): XX000 without, or a number read from another type */
	attnum = SPI_fnumber(RelationGetDescr(rel), "gen");
	if (attnum <= 0 || SPI_gettypeid(RelationGetDescr(rel), attnum) != INT8OID ||
		!TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attidentity)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stategraph.graph_gen() must be a trigger of a table with a bigint identity column gen"),
				 errdetail("Table \"%s\" has none.", RelationGetRelationName(rel))));
	if (superuser())
		return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		bool		old_null;
		bool		new_null;
		Datum		old = heap_getattr(td->tg_trigtuple, attnum, RelationGetDescr(rel), &old_null);
		Datum		new = heap_getattr(td->tg_newtuple, attnum, RelationGetDescr(rel), &new_null);

		if (old_null != new_null || (!old_null && DatumGetInt64(old) != DatumGetInt64(new)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the generation of a graph cannot be changed"),
					 errdetail("stategraph.graphs.gen tells a graph from the graphs made earlier under its name."),
					 errhint("Drop the graph and create it again to make a new one.")));
		return PointerGetDatum(td->tg_newtuple);
	}
	gen = Int64GetDatum(nextval_internal(getIdentitySequence(RelationGetRelid(rel), attnum, false), false));
	col = attnum;
	return PointerGetDatum(heap_modify_tuple_by_cols(td->tg_trigtuple, RelationGetDescr(rel), 1, &col,
													 &gen, &isnull));
}

/* A node's retry policy from its spec (NULL: no retry). */
static void
build_retry(SGRetry *r, Jsonb *spec)
{
	Jsonb	   *v;
	int			i;

	r->max_attempts = 1;
	r->backoff_ms = 0;
	r->nsqlstates = 0;
	if (spec == NULL)
		return;
	r->max_attempts = 3;
	r->backoff_ms = 100;
	if ((v = sg_jsonb_get(spec, "max_attempts")) != NULL)
		r->max_attempts = atoi(DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(v))));
	if ((v = sg_jsonb_get(spec, "backoff_ms")) != NULL)
		r->backoff_ms = atoi(DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(v))));
	if ((v = sg_jsonb_get(spec, "sqlstates")) != NULL)
	{
		r->nsqlstates = sg_jsonb_array_length(v);
		r->sqlstates = palloc(sizeof(int) * (r->nsqlstates + 1));
		for (i = 0; i < r->nsqlstates; i++)
		{
			char	   *s = sg_jsonb_array_get_cstring(v, i);

			r->sqlstates[i] = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
		}
	}
	else
	{
		/* transient by default: serialization failure and deadlock */
		r->nsqlstates = 2;
		r->sqlstates = palloc(sizeof(int) * 2);
		r->sqlstates[0] = ERRCODE_T_R_SERIALIZATION_FAILURE;
		r->sqlstates[1] = ERRCODE_T_R_DEADLOCK_DETECTED;
	}
}

/* Order of channels by name. */
static int
cmp_channel(const void *a, const void *b)
{
	return strcmp(((const SGChannel *) a)->name, ((const SGChannel *) b)->name);
}

/* Set while sg_graph_channels builds channels whose reducer functions it leaves unresolved. */
static bool channels_only = false;

/*
 * A function of a graph being built, from the members fn_key and owner_key
 * of its entry def in the spec (graph_function, check_signature; the
 * signature's *nargs if asked), its owner in *owner; for_name is the name
 * of its node or channel. Looked up in a context of its own: to_regprocedure
 * runs the parser, and what it took (about 7 kB a function) stayed in the
 * graph's context for the backend's life (20 MB for a chain of 3,000 nodes).
 */
static Oid
load_function(SGGraph *g, Jsonb *def, const char *fn_key, const char *owner_key, SGSignature sig,
			  const char *for_name, Oid *owner, int *nargs)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "stategraph function lookup",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext keep = MemoryContextSwitchTo(scratch);
	const char *what;
	const char *sig_what;
	Oid			fn;
	int			n;

	switch (sig)
	{
		case SIG_NODE:
			what = sig_what = psprintf("node \"%s\"", for_name);
			break;
		case SIG_ROUTER:
			what = psprintf("the router of node \"%s\"", for_name);
			sig_what = psprintf("router of node \"%s\"", for_name);
			break;
		default:
			what = sig_what = psprintf("the reducer of channel \"%s\"", for_name);
			break;
	}
	fn = graph_function(sg_jsonb_get_cstring(def, fn_key), sg_jsonb_get_cstring(def, owner_key),
						g->owner, g->name, sig, what, false);
	*owner = proc_owner(fn);
	/* dropped and created again with another return type, it would be read as jsonb all the same */
	n = check_signature(fn, sig, sig_what);
	if (nargs != NULL)
		*nargs = n;
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(scratch);
	return fn;
}

/* One channel of a compiled graph, from its normalized definition in the spec. */
static void
build_channel(SGGraph *g, SGChannel *c, Jsonb *def)
{
	char	   *reducer = sg_jsonb_get_cstring(def, "reducer");

	c->initial = sg_jsonb_get(def, "default");
	if (strcmp(reducer, "replace") == 0)
		c->reducer = SG_REDUCER_REPLACE, c->kind = SG_STORE_LAST;
	else if (strcmp(reducer, "append") == 0)
		c->reducer = SG_REDUCER_APPEND, c->kind = SG_STORE_APPEND;
	else if (strcmp(reducer, "add") == 0)
		c->reducer = SG_REDUCER_ADD, c->kind = SG_STORE_IMAGE;
	else if (strcmp(reducer, "merge") == 0)
		c->reducer = SG_REDUCER_MERGE, c->kind = SG_STORE_IMAGE;
	else
	{
		c->reducer = SG_REDUCER_CUSTOM;
		c->kind = SG_STORE_IMAGE;
		if (channels_only)
			return;				/* sg_graph_channels: its function is not needed (nor maybe there) */
		c->reducer_fn = load_function(g, def, "fn", "fn_owner", SIG_REDUCER, c->name, &c->reducer_owner, NULL);
		fmgr_info_cxt(c->reducer_fn, &c->reducer_flinfo, g->cxt);
	}
}

/* The channels of a compiled graph, sorted by name, and their kinds (g->kinds, g->cs). */
static void
build_channels(SGGraph *g, Jsonb *channels)
{
	JsonbIterator *it = JsonbIteratorInit(&channels->root);
	JsonbValue	v;
	char	   *name;
	SGJsonBuilder kb = {0};
	int			i = 0;

	g->nchannels = JB_ROOT_COUNT(channels);
	g->channels = palloc0(sizeof(SGChannel) * g->nchannels);
	while (sg_jsonb_next_pair(&it, &name, &v))
	{
		SGChannel  *c = &g->channels[i++];

		c->name = name;
		build_channel(g, c, sg_jsonb_from_value(&v));
	}
	qsort(g->channels, g->nchannels, sizeof(SGChannel), cmp_channel);
	sg_jb_begin_object(&kb);
	for (i = 0; i < g->nchannels; i++)
	{
		sg_jb_key(&kb, g->channels[i].name);
		sg_jb_string(&kb, sg_store_kind_name(g->channels[i].kind));
	}
	sg_jb_end_object(&kb);
	g->kinds = sg_jb_finish(&kb);
	g->cs = sg_channelset_from_jsonb(g->kinds);
}

/*
 * The nodes of a compiled graph: [0] is __start__, then the spec's nodes
 * (sorted by name). node_lists gives them room for what leaves them.
 */
static void
build_nodes(SGGraph *g, Jsonb *nodes)
{
	int			i;

	g->nnodes = sg_jsonb_array_length(nodes) + 1;
	g->nodes = palloc0(sizeof(SGNode) * g->nnodes);
	g->nodes[0].name = pstrdup(SG_START_NAME);
	build_retry(&g->nodes[0].retry, NULL);
	for (i = 1; i < g->nnodes; i++)
	{
		Jsonb	   *n = sg_jsonb_array_get(nodes, i - 1);
		SGNode	   *node = &g->nodes[i];

		node->name = sg_jsonb_get_cstring(n, "name");
		node->queue = sg_jsonb_get_cstring(n, "queue");
		if (node->queue != NULL)
		{
			/* an external node: a lost worker is its common failure, so it retries by default */
			Jsonb	   *lease = sg_jsonb_get(n, "lease_ms");

			node->lease_ms = atoi(DatumGetCString(DirectFunctionCall1(jsonb_out, JsonbPGetDatum(lease))));
			build_retry(&node->retry, sg_jsonb_get(n, "retry"));
			if (sg_jsonb_get(n, "retry") == NULL)
			{
				node->retry.max_attempts = 3;
				node->retry.backoff_ms = 1000;
			}
			continue;
		}
		node->fn = load_function(g, n, "fn", "fn_owner", SIG_NODE, node->name, &node->fn_owner, &node->nargs);
		fmgr_info_cxt(node->fn, &node->flinfo, g->cxt);
		build_retry(&node->retry, sg_jsonb_get(n, "retry"));
	}
}

/*
 * Room for the edges, joins and conditional edges that leave each node,
 * counted first: each node's lists are slices of one array per kind, its
 * counts left 0 for build_edges and build_branches to fill them. (Each
 * node had room for all the graph's edges, twice, and all its conditional
 * edges: memory of nodes x edges, 101 MB for a chain of 3,000 nodes.)
 */
static void
node_lists(SGGraph *g, Jsonb *edges, Jsonb *branches)
{
	int			nedges = 0,
				njoins = 0,
				nbranches = 0;
	int		   *edge_room,
			   *join_room,
			   *join_pos_room;
	SGBranch   *branch_room;
	int			i,
				j;
	/* (the copies of the spec's parts read here are not kept) */
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "stategraph graph lists",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext keep = MemoryContextSwitchTo(scratch);

	for (i = 0; i < sg_jsonb_array_length(edges); i++)
	{
		Jsonb	   *sources = sg_jsonb_get(sg_jsonb_array_get(edges, i), "sources");
		int			n = sg_jsonb_array_length(sources);

		CHECK_FOR_INTERRUPTS();
		for (j = 0; j < n; j++)
		{
			SGNode	   *src = &g->nodes[sg_graph_node_index(g, sg_jsonb_array_get_cstring(sources, j))];

			if (n == 1)
			{
				src->nedges++;
				nedges++;
			}
			else
			{
				src->njoins++;
				njoins++;
			}
		}
	}
	for (i = 0; i < sg_jsonb_array_length(branches); i++)
	{
		g->nodes[sg_graph_node_index(g, sg_jsonb_get_cstring(sg_jsonb_array_get(branches, i), "source"))].nbranches++;
		nbranches++;
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(scratch);
	/* (+ 1: a graph of no edges has arrays all the same) */
	edge_room = palloc0(sizeof(int) * (nedges + 1));
	join_room = palloc0(sizeof(int) * (njoins + 1));
	join_pos_room = palloc0(sizeof(int) * (njoins + 1));
	branch_room = palloc0(sizeof(SGBranch) * (nbranches + 1));
	for (i = 0; i < g->nnodes; i++)
	{
		SGNode	   *node = &g->nodes[i];

		node->edges = edge_room;
		node->joins = join_room;
		node->join_pos = join_pos_room;
		node->branches = branch_room;
		edge_room += node->nedges;
		join_room += node->njoins;
		join_pos_room += node->njoins;
		branch_room += node->nbranches;
		node->nedges = node->njoins = node->nbranches = 0;
	}
}

/*
 * A join edge (several sources) of a compiled graph, to target t, keyed
 * "join:a+b:target"; what it keeps is allocated in the graph's context
 * (build_edges calls it in a context of its own).
 */
static void
build_join(SGGraph *g, Jsonb *sources, const char *target, int t)
{
	SGJoin	   *jn = &g->joins[g->njoins];
	StringInfoData key;
	int			j;

	initStringInfo(&key);
	appendStringInfoString(&key, "join:");
	jn->target = t;
	jn->nsources = sg_jsonb_array_length(sources);
	jn->sources = MemoryContextAlloc(g->cxt, sizeof(int) * jn->nsources);
	for (j = 0; j < jn->nsources; j++)
	{
		char	   *s = sg_jsonb_array_get_cstring(sources, j);
		SGNode	   *src;

		jn->sources[j] = sg_graph_node_index(g, s);
		src = &g->nodes[jn->sources[j]];
		src->joins[src->njoins] = g->njoins;
		src->join_pos[src->njoins++] = j;
		appendStringInfo(&key, "%s%s", j ? "+" : "", s);
	}
	appendStringInfo(&key, ":%s", target);
	/* (a StringInfo's buffer is 1 kB at least: the key takes its own length) */
	jn->key = MemoryContextStrdup(g->cxt, key.data);
	pfree(key.data);
	g->njoins++;
}

/* A join's key in join_keys_unique's set: with "+" appended, next tries that many. */
typedef struct JoinKeyEntry
{
	const char *key;			/* the hash key: a pointer to the string */
	int			next_plus;
} JoinKeyEntry;

static uint32
join_key_hash(const void *key, Size keysize)
{
	const char *s = *(const char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
join_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(const char *const *) key1, *(const char *const *) key2);
}

/*
 * Two joins into one target whose names read the same joined with "+"
 * (["a+b", "c"] and ["a", "b+c"]: "join:a+b+c:d") would share one entry
 * of a checkpoint's barriers, each overwriting what the other had seen.
 * A later one takes "+" at the end of its key until it is a key of its
 * own; keys that do not collide stay as threads have stored them.
 *
 * The keys taken so far are a hash set (a comparison of each key with
 * every earlier one took time quadratic in the joins: 6 s at each load of
 * a graph of 20,000 joins). A key found taken remembers how many "+" the
 * next join of that key starts at: every shorter one is taken already.
 */
static void
join_keys_unique(SGGraph *g)
{
	HASHCTL		ctl;
	HTAB	   *taken;
	int			i;

	if (g->njoins < 2)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(JoinKeyEntry);
	ctl.hash = join_key_hash;
	ctl.match = join_key_match;
	ctl.hcxt = CurrentMemoryContext;
	taken = hash_create("stategraph join keys", g->njoins, &ctl,
						HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (i = 0; i < g->njoins; i++)
	{
		SGJoin	   *jn = &g->joins[i];
		bool		found;
		JoinKeyEntry *e = hash_search(taken, &jn->key, HASH_ENTER, &found);

		CHECK_FOR_INTERRUPTS();
		if (!found)
		{
			e->next_plus = 1;
			continue;
		}
		for (;;)
		{
			size_t		len = strlen(jn->key);
			char	   *k = palloc(len + e->next_plus + 1);
			JoinKeyEntry *other;

			memcpy(k, jn->key, len);
			memset(k + len, '+', e->next_plus);
			k[len + e->next_plus] = '\0';
			e->next_plus++;
			other = hash_search(taken, &k, HASH_ENTER, &found);
			if (!found)
			{
				other->next_plus = 1;
				jn->key = k;
				break;
			}
			pfree(k);
		}
	}
	hash_destroy(taken);
}

/*
 * The edges and join edges of a compiled graph. Each edge is read in a
 * context of its own, reset after it: the copies of the spec's parts read
 * (the edge, its sources, its target) and a join key's StringInfo (1 kB at
 * least) were kept in the graph's context, about 1.3 kB a join edge for
 * the backend's life (pg_regress graph_load_memory).
 */
static void
build_edges(SGGraph *g, Jsonb *edges)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "stategraph graph edges",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext keep;
	int			nedges = sg_jsonb_array_length(edges);
	int			i;

	g->njoins = 0;
	g->joins = palloc0(sizeof(SGJoin) * (nedges + 1));
	keep = MemoryContextSwitchTo(scratch);
	for (i = 0; i < nedges; i++)
	{
		Jsonb	   *e = sg_jsonb_array_get(edges, i);
		Jsonb	   *sources = sg_jsonb_get(e, "sources");
		char	   *target = sg_jsonb_get_cstring(e, "target");
		int			t = strcmp(target, SG_END_NAME) == 0 ? SG_END : sg_graph_node_index(g, target);

		if (sg_jsonb_array_length(sources) == 1)
		{
			SGNode	   *src = &g->nodes[sg_graph_node_index(g, sg_jsonb_array_get_cstring(sources, 0))];

			src->edges[src->nedges++] = t;
		}
		else
			build_join(g, sources, target, t);
		MemoryContextReset(scratch);
	}
	MemoryContextSwitchTo(keep);
	MemoryContextDelete(scratch);
	join_keys_unique(g);
}

/* The conditional edges of a compiled graph. */
static void
build_branches(SGGraph *g, Jsonb *branches)
{
	int			i;

	for (i = 0; i < sg_jsonb_array_length(branches); i++)
	{
		Jsonb	   *b = sg_jsonb_array_get(branches, i);
		SGNode	   *src = &g->nodes[sg_graph_node_index(g, sg_jsonb_get_cstring(b, "source"))];
		SGBranch   *br = &src->branches[src->nbranches++];

		br->router = load_function(g, b, "router", "router_owner", SIG_ROUTER, src->name, &br->router_owner, NULL);
		br->rettype = get_func_rettype(br->router);
		fmgr_info_cxt(br->router, &br->flinfo, g->cxt);
		br->path_map = sg_jsonb_get(b, "path_map");
	}
}

/* The static interrupts of a compiled graph (interrupt_before, interrupt_after). */
static void
build_interrupts(SGGraph *g, Jsonb *spec)
{
	int			i,
				k;

	for (k = 0; k < 2; k++)
	{
		Jsonb	   *list = sg_jsonb_get(spec, k == 0 ? "interrupt_before" : "interrupt_after");

		for (i = 0; i < sg_jsonb_array_length(list); i++)
		{
			int			n = sg_graph_node_index(g, sg_jsonb_array_get_cstring(list, i));

			if (n > 0)
			{
				if (k == 0)
					g->nodes[n].interrupt_before = true;
				else
					g->nodes[n].interrupt_after = true;
			}
		}
	}
}

/* Whether j is a JSON array of strings (NULL: whether the member may be absent). */
static bool
spec_strings(Jsonb *j, bool optional)
{
	int			i;

	if (j == NULL)
		return optional;
	if (!sg_jsonb_is_array(j))
		return false;
	for (i = 0; i < sg_jsonb_array_length(j); i++)
		if (sg_jsonb_array_get_cstring(j, i) == NULL)
			return false;
	return true;
}

/* Whether s names a node of the spec (names: its nodes, sorted), or __start__ / __end__ where allowed. */
static bool
spec_node(char **names, int n, const char *s, bool start, bool end)
{
	if (s == NULL)
		return false;
	if ((start && strcmp(s, SG_START_NAME) == 0) || (end && strcmp(s, SG_END_NAME) == 0))
		return true;
	return sg_sorted_index(s, names, n, sizeof(char *)) >= 0;
}

/*
 * Whether v (of a spec) is a whole number from min to max, as
 * check_retry and sg_add_external_node take them: build_retry and
 * build_graph read them with atoi, and a lease_ms of 2160000000 (a lease
 * row of '25 days' written into stategraph.nodes, where its (int) cast
 * wrapped it to -2134967296) or a backoff_ms of -5 made a task's lease or
 * backoff negative: claimed, it had expired already.
 */
static bool
spec_int(Jsonb *v, int64 min, int64 max)
{
	JsonbValue	jv;
	bool		have_error = false;
	int32		n;

	if (v == NULL || !JsonbExtractScalar(&v->root, &jv) || jv.type != jbvNumeric)
		return false;
	n = numeric_int4_opt_error(jv.val.numeric, &have_error);
	return !have_error && n >= min && n <= max &&
		DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(jv.val.numeric),
										 DirectFunctionCall1(int4_numeric, Int32GetDatum(n))));
}

/* Whether a node's retry policy in a spec has what build_retry reads. */
static bool
spec_retry(Jsonb *r)
{
	Jsonb	   *states = sg_jsonb_get(r, "sqlstates");
	int			i;

	if (r == NULL || sg_jsonb_is_scalar(r, jbvNull))
		return true;
	if (!sg_jsonb_is_object(r) || !spec_strings(states, true))
		return false;
	for (i = 0; i < sg_jsonb_array_length(states); i++)
		if (strlen(sg_jsonb_array_get_cstring(states, i)) != 5)
			return false;
	/* the bounds of check_retry */
	return (sg_jsonb_get(r, "max_attempts") == NULL || spec_int(sg_jsonb_get(r, "max_attempts"), 1, 100)) &&
		(sg_jsonb_get(r, "backoff_ms") == NULL || spec_int(sg_jsonb_get(r, "backoff_ms"), 0, 3600000));
}

/* What is wrong with the channels of a spec, or NULL. */
static char *
spec_channels_problem(Jsonb *channels)
{
	JsonbIterator *it;
	JsonbValue	v;
	char	   *name;

	if (!sg_jsonb_is_object(channels) || JB_ROOT_COUNT(channels) == 0)
		return "Its channels are not a non-empty object.";
	it = JsonbIteratorInit(&channels->root);
	while (sg_jsonb_next_pair(&it, &name, &v))
	{
		Jsonb	   *def = sg_jsonb_from_value(&v);
		char	   *reducer = sg_jsonb_get_cstring(def, "reducer");

		if (reducer == NULL || (!reducer_is_builtin(reducer) && sg_jsonb_get_cstring(def, "fn") == NULL))
			return psprintf("Channel \"%s\" has no reducer, or a custom one without its function.", name);
	}
	return NULL;
}

/*
 * What is wrong with a compiled spec, or NULL. sg_compile writes the spec,
 * but the graph's owner can UPDATE stategraph.graphs too, and build_graph
 * trusts the spec's shape (a missing member or a name of no node crashed
 * the server): every member it reads, of its type, every name resolving.
 */
static char *
spec_problem(Jsonb *spec)
{
	Jsonb	   *nodes = sg_jsonb_get(spec, "nodes");
	Jsonb	   *edges = sg_jsonb_get(spec, "edges");
	Jsonb	   *branches = sg_jsonb_get(spec, "branches");
	char	   *problem = spec_channels_problem(sg_jsonb_get(spec, "channels"));
	char	  **names;
	char	  **sourcev;
	int			n,
				nsources,
				repeat,
				i,
				j;

	if (problem != NULL)
		return problem;
	if (!sg_jsonb_is_array(nodes) || (edges && !sg_jsonb_is_array(edges)) || (branches && !sg_jsonb_is_array(branches)))
		return "Its nodes, edges or branches are not arrays.";
	n = sg_jsonb_array_length(nodes);
	names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		Jsonb	   *node = sg_jsonb_array_get(nodes, i);

		CHECK_FOR_INTERRUPTS();
		names[i] = sg_jsonb_get_cstring(node, "name");
		if (names[i] == NULL || strncmp(names[i], "__", 2) == 0 || (i > 0 && strcmp(names[i - 1], names[i]) >= 0))
			return psprintf("Node #%d has no name, a reserved one, or one out of order.", i + 1);
		if (sg_jsonb_get_cstring(node, "queue") != NULL ?
			!sg_jsonb_is_scalar(sg_jsonb_get(node, "lease_ms"), jbvNumeric) : sg_jsonb_get_cstring(node, "fn") == NULL)
			return psprintf("Node \"%s\" has neither a function nor a queue and lease.", names[i]);
		if (sg_jsonb_get_cstring(node, "queue") != NULL &&
			!spec_int(sg_jsonb_get(node, "lease_ms"), 1, SG_MAX_LEASE_MS))
			return psprintf("The lease of node \"%s\" is not from 1 ms to 24 days.", names[i]);
		if (!spec_retry(sg_jsonb_get(node, "retry")))
			return psprintf("The retry policy of node \"%s\" is malformed.", names[i]);
	}
	for (i = 0; i < sg_jsonb_array_length(edges); i++)
	{
		Jsonb	   *e = sg_jsonb_array_get(edges, i);
		Jsonb	   *sources = sg_jsonb_get(e, "sources");

		CHECK_FOR_INTERRUPTS();
		if (!spec_strings(sources, false) || sg_jsonb_array_length(sources) == 0 ||
			!spec_node(names, n, sg_jsonb_get_cstring(e, "target"), false, true))
			return psprintf("Edge #%d has no sources or no target node.", i + 1);
		nsources = sg_jsonb_array_length(sources);
		sourcev = palloc(sizeof(char *) * nsources);
		for (j = 0; j < nsources; j++)
			sourcev[j] = sg_jsonb_array_get_cstring(sources, j);
		/* sg_add_edge refuses a join naming a source twice, and so does this */
		repeat = first_repeat(sourcev, nsources);
		for (j = 0; j < nsources; j++)
		{
			if (!spec_node(names, n, sourcev[j], true, false))
				return psprintf("Edge #%d has a source that is no node.", i + 1);
			if (j == repeat)
				return psprintf("Edge #%d names source \"%s\" twice.", i + 1, sourcev[j]);
		}
		pfree(sourcev);
	}
	for (i = 0; i < sg_jsonb_array_length(branches); i++)
	{
		Jsonb	   *b = sg_jsonb_array_get(branches, i);

		if (!spec_node(names, n, sg_jsonb_get_cstring(b, "source"), true, false) ||
			sg_jsonb_get_cstring(b, "router") == NULL || !path_map_ok(sg_jsonb_get(b, "path_map")))
			return psprintf("Conditional edge #%d has no source node, no router or a path_map of another shape.", i + 1);
	}
	if (!spec_strings(sg_jsonb_get(spec, "interrupt_before"), true) ||
		!spec_strings(sg_jsonb_get(spec, "interrupt_after"), true))
		return "Its interrupt_before or interrupt_after is not an array of node names.";
	return NULL;
}

/* Build a compiled graph from its spec, in its own memory context. */
static SGGraph *
build_graph(const char *name, const char *owner, int32 version, Jsonb *spec)
{
	MemoryContext cxt = AllocSetContextCreate(CacheMemoryContext, "stategraph graph",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SGGraph    *g = palloc0(sizeof(SGGraph));
	Jsonb	   *edges = sg_jsonb_get(spec, "edges");
	Jsonb	   *branches = sg_jsonb_get(spec, "branches");

	MemoryContextSetIdentifier(cxt, pstrdup(name));
	g->name = pstrdup(name);
	g->owner = owner ? pstrdup(owner) : NULL;
	g->version = version;
	g->cxt = cxt;
	/*
	 * A graph that fails to build (a function of it dropped or given away)
	 * frees its context: kept, each failed load left about 40 kB in the
	 * backend's cache memory for its life (a pooled connection, or a worker
	 * completing tasks of a broken graph, grew without end).
	 */
	PG_TRY();
	{
		build_channels(g, sg_jsonb_get(spec, "channels"));
		build_nodes(g, sg_jsonb_get(spec, "nodes"));
		node_lists(g, edges, branches);
		build_edges(g, edges);
		build_branches(g, branches);
		build_interrupts(g, spec);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	return g;
}

/* The columns sg_graph_get reads of a graph ("spec, version, gen, owner"), by number. */
#define Anum_compiled_spec		1
#define Anum_compiled_version	2
#define Anum_compiled_gen		3
#define Anum_compiled_owner		4

/*
 * Before a lookup in the caches of graphs: its callbacks registered, and
 * the invalidations other transactions committed read.
 */
static void
cache_prepare(void)
{
	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, proc_callback, (Datum) 0);
		callbacks_registered = true;
	}
	/*
	 * A graph recompiled by a transaction that committed since this one's
	 * last lock: its invalidation is read now, as a new statement would
	 * read the new definition. Read first: it may forget the OID of
	 * stategraph.graphs (relcache_callback), looked up again below, so that
	 * the caller's check_storage_access never asks about OID 0.
	 */
	AcceptInvalidationMessages();
	if (!OidIsValid(graphs_relid))
	{
		graph_cache_reset();
		graphs_relid = sg_table_oid("graphs");
	}
}

/*
 * The graph of the run (or task) made for generation gen of graph name is
 * gone: name is another graph now, dropped and created again since.
 */
static void
graph_replaced_error(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("graph \"%s\" of the run was dropped and created again after the run was submitted", name),
			 errhint("Submit the run again to run the graph as it is now defined.")));
}

/*
 * The spec of graph name as compiled, read through SPI (connected by the
 * caller; the row stays SPI_tuptable's row 0: version, gen, owner), with
 * the errors of a graph that cannot be built from it: none of that name,
 * not generation gen when given (graph_replaced_error, before any other
 * complaint about the graph of that name now), not compiled, damaged.
 */
static Jsonb *
compiled_spec(const char *name, const int64 *gen)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		spec;
	char	   *problem;

	if (sg_spi_run(sg_schema_is_010() ?
				   "SELECT spec, version, 0::pg_catalog.int8, NULL::pg_catalog.text FROM stategraph.graphs "
				   "WHERE graph OPERATOR(pg_catalog.=) $1" :
				   "SELECT spec, version, gen, owner::pg_catalog.text FROM stategraph.graphs "
				   "WHERE graph OPERATOR(pg_catalog.=) $1",
				   1, types, values, NULL) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("graph \"%s\" does not exist", name),
				 errhint("Create it with sg_create_graph().")));
	if (gen != NULL && DatumGetInt64(sg_spi_datum(0, Anum_compiled_gen, &isnull)) != *gen)
		graph_replaced_error(name);
	spec = sg_spi_datum(0, Anum_compiled_spec, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("graph \"%s\" is not compiled", name),
				 errhint("Call sg_compile('%s') first.", name)));
	problem = spec_problem(DatumGetJsonbP(spec));
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("compiled graph \"%s\" is damaged", name),
				 errdetail("%s", problem),
				 errhint("Call sg_compile('%s') again.", name)));
	return DatumGetJsonbP(spec);
}

/*
 * The compiled graph called name if this backend's cache has it (it was
 * loaded, its functions found, and nothing changed it since, as far as the
 * invalidations read now tell), else NULL; not pinned. The storage check
 * comes before the lookup: its catalog reads may take in invalidations that
 * drop the cache, which would free a graph found before it.
 */
static SGGraph *
cached_graph(const char *name)
{
	ListCell   *lc;

	cache_prepare();
	check_storage_access();
	foreach(lc, graph_cache)
	{
		SGGraph    *g = (SGGraph *) lfirst(lc);

		if (strcmp(g->name, name) == 0)
			return g;
	}
	return NULL;
}

/*
 * The compiled graph called name, from the cache or built from its spec;
 * when gen is given, it must be that generation of the graph
 * (graph_replaced_error otherwise, before any other complaint about the
 * graph of that name now). Pinned until the current memory context is
 * reset or deleted (graph_pin), before anything that could take in an
 * invalidation: a run goes on with the graph it checked, and no check of
 * the caller's can free it.
 */
static SGGraph *
graph_get(const char *name, const int64 *gen)
{
	SGGraph    *g;
	bool		isnull;
	Jsonb	   *spec;
	MemoryContext old;

	g = cached_graph(name);
	if (g != NULL)
	{
		if (gen != NULL && g->gen != *gen)
			graph_replaced_error(name);
		graph_pin(g, CurrentMemoryContext);
		return g;
	}

	sg_spi_connect();
	spec = compiled_spec(name, gen);
	g = build_graph(name, sg_spi_text(0, Anum_compiled_owner),
					DatumGetInt32(sg_spi_datum(0, Anum_compiled_version, &isnull)), spec);
	g->gen = DatumGetInt64(sg_spi_datum(0, Anum_compiled_gen, &isnull));
	sg_spi_finish();

	old = MemoryContextSwitchTo(CacheMemoryContext);
	graph_cache = lappend(graph_cache, g);
	MemoryContextSwitchTo(old);
	graph_pin(g, CurrentMemoryContext);
	return g;
}

/* The compiled graph called name if cached (cached_graph), pinned as graph_get pins it; else NULL. */
SGGraph *
sg_graph_get_cached(const char *name)
{
	SGGraph    *g = cached_graph(name);

	if (g != NULL)
		graph_pin(g, CurrentMemoryContext);
	return g;
}

/* The compiled graph called name (graph_get). */
SGGraph *
sg_graph_get(const char *name)
{
	return graph_get(name, NULL);
}

/*
 * The compiled graph called name, if it is still generation gen of it (a
 * background run's graph, src/runs.c): graph_replaced_error otherwise.
 */
SGGraph *
sg_graph_get_gen(const char *name, int64 gen)
{
	return graph_get(name, &gen);
}

/*
 * The channels of the compiled graph called name, and its generation and
 * owner, without its functions (reducer functions left unresolved, no
 * nodes): what checking an update against the channels needs
 * (sg_check_update), for a graph that cannot be loaded to run because a
 * function of it was dropped or given to another role since it was
 * compiled (sg_complete keeps a worker's result then, and the step waits
 * for the graph to be repaired, as a background run's would). Not cached:
 * built in the caller's memory context.
 */
SGGraph *
sg_graph_channels(const char *name)
{
	bool		isnull;
	Jsonb	   *spec;
	SGGraph    *g = palloc0(sizeof(SGGraph));

	sg_spi_connect();
	spec = compiled_spec(name, NULL);
	g->name = pstrdup(name);
	g->owner = sg_spi_text(0, Anum_compiled_owner);
	g->version = DatumGetInt32(sg_spi_datum(0, Anum_compiled_version, &isnull));
	g->gen = DatumGetInt64(sg_spi_datum(0, Anum_compiled_gen, &isnull));
	g->cxt = CurrentMemoryContext;
	channels_only = true;
	PG_TRY();
	{
		build_channels(g, sg_jsonb_get(spec, "channels"));
	}
	PG_FINALLY();
	{
		channels_only = false;
	}
	PG_END_TRY();
	sg_spi_finish();
	return g;
}

/* The external nodes of graph as compiled now, read from its spec (kept in external_cxt). */
static ExternalNodes *
read_external_nodes(const char *graph)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(graph)};
	Jsonb	   *nodes = NULL;
	int			len;
	char	  **names;
	int			n = 0;
	ExternalNodes *e;
	MemoryContext old;
	int			i;
	bool		exists = false;
	int64		gen = 0;

	sg_spi_connect();
	if (sg_spi_run(sg_schema_is_010() ?
				   "SELECT spec OPERATOR(pg_catalog.->) 'nodes', 0::pg_catalog.int8 FROM stategraph.graphs "
				   "WHERE graph OPERATOR(pg_catalog.=) $1" :
				   "SELECT spec OPERATOR(pg_catalog.->) 'nodes', gen FROM stategraph.graphs "
				   "WHERE graph OPERATOR(pg_catalog.=) $1", 1, types, values, NULL) == 1)
	{
		bool		isnull;

		nodes = sg_spi_jsonb(0, 1);	/* NULL: not compiled */
		exists = true;
		gen = DatumGetInt64(sg_spi_datum(0, 2, &isnull));
	}
	sg_spi_finish();
	len = nodes ? sg_jsonb_array_length(nodes) : 0;
	names = palloc(sizeof(char *) * (len + 1));
	for (i = 0; i < len; i++)
	{
		Jsonb	   *node = sg_jsonb_array_get(nodes, i);
		char	   *name = sg_jsonb_get_cstring(node, "name");

		if (name != NULL && sg_jsonb_get(node, "queue") != NULL)
			names[n++] = name;
	}
	if (external_cxt == NULL)
		external_cxt = AllocSetContextCreate(CacheMemoryContext, "stategraph external nodes",
											 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(external_cxt);
	e = palloc0(sizeof(ExternalNodes));
	e->graph = pstrdup(graph);
	e->exists = exists;
	e->gen = gen;
	e->names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
		e->names[e->n++] = pstrdup(names[i]);
	external_cache = lappend(external_cache, e);
	MemoryContextSwitchTo(old);
	return e;
}

/* The cached external nodes of graph as compiled now (read on a miss). */
static ExternalNodes *
external_nodes(const char *graph)
{
	ListCell   *lc;

	cache_prepare();
	foreach(lc, external_cache)
	{
		if (strcmp(((ExternalNodes *) lfirst(lc))->graph, graph) == 0)
			return (ExternalNodes *) lfirst(lc);
	}
	return read_external_nodes(graph);
}

/*
 * Whether graph is no longer generation gen of it (dropped, and maybe made
 * again by anyone): a task queued by a step of generation gen must not go
 * on with another definition's nodes (tasks.c). From the same cache as
 * sg_graph_node_is_external: no statement once the graph is cached.
 */
bool
sg_graph_replaced(const char *graph, int64 gen)
{
	ExternalNodes *e = external_nodes(graph);

	return !e->exists || e->gen != gen;
}

/*
 * Whether node is an external node of graph's compiled definition as it is
 * now (false if the graph is gone or not compiled): a task of a node that
 * is not can no longer be handed out or taken (tasks.c). From the cache of
 * external nodes: a statement only the first time after a change of
 * stategraph.graphs, then a list walk.
 */
bool
sg_graph_node_is_external(const char *graph, const char *node)
{
	ExternalNodes *e = external_nodes(graph);
	int			i;

	for (i = 0; i < e->n; i++)
		if (strcmp(e->names[i], node) == 0)
			return true;
	return false;
}

/*
 * A cached graph is shared by every role of the backend: after SET ROLE the
 * current role must still be allowed to read it, as reading it from the
 * table again would check (USAGE on schema stategraph, SELECT on graphs).
 */
static void
check_storage_access(void)
{
	Oid			graphs = graphs_relid;	/* an invalidation read below may reset it */
	Oid			nsp = get_rel_namespace(graphs);
	AclResult	r;

	r = pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE);
	if (r != ACLCHECK_OK)
		aclcheck_error(r, OBJECT_SCHEMA, get_namespace_name(nsp));
	r = pg_class_aclcheck(graphs, GetUserId(), ACL_SELECT);
	if (r != ACLCHECK_OK)
		aclcheck_error(r, OBJECT_TABLE, get_rel_name(graphs));
}

/* A call that used a graph is done with it (a memory context reset callback). */
static void
graph_unpin_callback(void *arg)
{
	SGGraph    *g = (SGGraph *) arg;

	if (--g->pins == 0 && g->stale)
		MemoryContextDelete(g->cxt);
}

/* Keep g alive until cxt is reset or deleted, even if the cache drops it. */
static void
graph_pin(SGGraph *g, MemoryContext cxt)
{
	MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));

	cb->func = graph_unpin_callback;
	cb->arg = g;
	g->pins++;
	MemoryContextRegisterResetCallback(cxt, cb);
}

/*
 * May the current user execute fn? With dropped_too (sg_graph_check_privileges),
 * a function dropped since g was read (between two steps of a run, which
 * keeps its graph) may not be executed either; without, pg_proc_aclcheck
 * fails on it ("function with OID ... does not exist").
 */
static bool
may_execute(Oid fn, bool dropped_too)
{
	return (!dropped_too || SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn))) &&
		pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
}

/* A test of a function of graph g (of owner loaded_owner when g was loaded): true when it fails. */
typedef bool (*GraphFnTest) (SGGraph *g, Oid fn, Oid loaded_owner, bool dropped_too);

/*
 * The first function of g (its nodes', routers', custom reducers') that
 * fails test, or InvalidOid; *what and *name tell what it is for.
 */
static Oid
first_failing_fn(SGGraph *g, GraphFnTest fails, bool dropped_too, const char **what, const char **name)
{
	int			i,
				j;

	for (i = 1; i < g->nnodes; i++)
		if (g->nodes[i].queue == NULL && fails(g, g->nodes[i].fn, g->nodes[i].fn_owner, dropped_too))
		{
			*what = "node";
			*name = g->nodes[i].name;
			return g->nodes[i].fn;
		}
	for (i = 0; i < g->nnodes; i++)
		for (j = 0; j < g->nodes[i].nbranches; j++)
			if (fails(g, g->nodes[i].branches[j].router, g->nodes[i].branches[j].router_owner, dropped_too))
			{
				*what = "the router of node";
				*name = g->nodes[i].name;
				return g->nodes[i].branches[j].router;
			}
	for (i = 0; i < g->nchannels; i++)
		if (g->channels[i].reducer == SG_REDUCER_CUSTOM &&
			fails(g, g->channels[i].reducer_fn, g->channels[i].reducer_owner, dropped_too))
		{
			*what = "the reducer of channel";
			*name = g->channels[i].name;
			return g->channels[i].reducer_fn;
		}
	return InvalidOid;
}

/* may_execute as a GraphFnTest: the current user may not execute fn. */
static bool
not_executable(SGGraph *g, Oid fn, Oid loaded_owner, bool dropped_too)
{
	return !may_execute(fn, dropped_too);
}

/*
 * The first function of g the current user may not execute (may_execute),
 * or InvalidOid; *what and *name tell what it is for.
 */
static Oid
unprivileged_fn(SGGraph *g, bool dropped_too, const char **what, const char **name)
{
	return first_failing_fn(g, not_executable, dropped_too, what, name);
}

/*
 * Whether function fn, of owner loaded_owner when graph g was loaded
 * (checked then: graph_function), now belongs to another role than that
 * one and g's owner: it was given away since (ALTER FUNCTION ... OWNER TO,
 * REASSIGN OWNED), and its new owner may have replaced it (CREATE OR
 * REPLACE keeps its OID). A function dropped: no (may_execute's).
 */
static bool
given_away(SGGraph *g, Oid fn, Oid loaded_owner)
{
	Oid			now = proc_owner(fn);

	return OidIsValid(now) && now != loaded_owner &&
		strcmp(GetUserNameFromId(now, false), g->owner) != 0;
}

/* The error of a run of g whose function fn (for what name) was given away (given_away). */
static void
given_away_error(SGGraph *g, Oid fn, const char *what, const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("function %s of %s \"%s\" in graph \"%s\" was given to role \"%s\" during the run",
					format_procedure_qualified(fn), what, name, g->name, function_owner(fn)),
			 errdetail("A run calls only functions of the owners they had when it loaded its graph, or of the graph's owner."),
			 errhint("If the new owner's function is meant, add it to graph \"%s\" again and call sg_compile('%s'), then resume the thread.",
					 g->name, g->name)));
}

/* given_away as a GraphFnTest. */
static bool
given_away_test(SGGraph *g, Oid fn, Oid loaded_owner, bool dropped_too)
{
	return given_away(g, fn, loaded_owner);
}

/*
 * The first function of g given to another role since g was loaded
 * (given_away), or InvalidOid; *what and *name tell what it is for.
 */
static Oid
given_away_fn(SGGraph *g, const char **what, const char **name)
{
	if (g->owner == NULL)		/* 0.1.0's schema: no owners */
		return InvalidOid;
	return first_failing_fn(g, given_away_test, false, what, name);
}

/* The first function of g the current user may not execute, or InvalidOid. */
Oid
sg_graph_unprivileged_fn(SGGraph *g)
{
	const char *what;
	const char *name;

	return unprivileged_fn(g, false, &what, &name);
}

/*
 * Check that the current user may execute every function of g. A run
 * checks again after each commit (sg_run_check_privileges), with the graph
 * it began with: a function of it dropped meanwhile failed the check of a
 * role other than a superuser with "function with OID ... does not
 * exist"; it is the error of a run that calls a dropped function
 * (sg_require_function). Nor may a function of g have been given to
 * another role since g was loaded (given_away_fn: 42501).
 */
void
sg_graph_check_privileges(SGGraph *g)
{
	const char *what;
	const char *name;
	Oid			fn = unprivileged_fn(g, true, &what, &name);

	if (OidIsValid(fn))
	{
		sg_require_function(fn, what, name, g->name);
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(fn));
	}
	/* nor a function given to another role meanwhile (the graph's load checked it) */
	fn = given_away_fn(g, &what, &name);
	if (OidIsValid(fn))
		given_away_error(g, fn, what, name);
}

/*
 * Check, just before a call in a run of g, that function fn (of owner
 * loaded_owner when g was loaded) has not been given to another role
 * since (given_away): a run takes many steps in one transaction (sg_invoke),
 * and a change another session commits meanwhile is seen by the call.
 */
void
sg_graph_check_fn_owner(SGGraph *g, Oid fn, Oid loaded_owner, const char *what, const char *name)
{
	if (g->owner != NULL && given_away(g, fn, loaded_owner))
		given_away_error(g, fn, what, name);
}

/* The index of node name in g (SG_START for __start__), or -1. */
int
sg_graph_node_index(SGGraph *g, const char *name)
{
	int			i;

	if (strcmp(name, SG_START_NAME) == 0)
		return SG_START;
	/* nodes 1..n are sorted by name (C collation) */
	i = sg_sorted_index(name, g->nodes + 1, g->nnodes - 1, sizeof(SGNode));
	return i < 0 ? -1 : i + 1;
}

/* The index of channel name in g, or -1. */
int
sg_graph_channel_index(SGGraph *g, const char *name)
{
	return sg_channelset_index(g->cs, name);
}
