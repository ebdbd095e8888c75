/*-------------------------------------------------------------------------
 *
 * exportbuild.c
 *		An export built row by row: the jsonb of sg_export_thread (portable.c)
 *		and of a LangGraph.js thread's (lgmaint.c), with its digest.
 *
 * An export is one jsonb value: a few members, and arrays of one object a
 * row (a thread's checkpoints; a LangGraph.js thread's checkpoints, blobs
 * and writes), and the md5 of its members' text. It was one statement,
 * jsonb_agg of the rows and md5 of the members' text, and that held some
 * 60 to 110 times the export's size until the call returned: the
 * aggregate's tree of JsonbValues (each key, value and element one, each
 * string copied), the tree again for each jsonb_build_object and ||
 * around it, a jsonb of each, the text of each member, their
 * concatenation, the checkpoint objects' iterators, all in the one
 * statement's context.
 *
 * Here the rows are read through a cursor, a batch at a time, each row's
 * object built by the same SQL as before and let go after it is copied:
 * its bytes (a jsonb container, as it is inside any jsonb: jsonb's binary
 * form is the same for the same value, however it was built) go into the
 * array's data, its text into the digest (MD5 as it goes, over UTF-8 as
 * SG_UTF8_MD5 takes it: the text of an array is its elements' text
 * between "[" and "]", joined by ", "). The export is then written once,
 * in the layout jsonb's own conversion gives it (convertJsonbObject and
 * convertJsonbArray, jsonb_util.c): keys sorted as jsonb sorts them,
 * JEntries with an offset every JB_OFFSET_STRIDE, containers and numerics
 * aligned to 4 bytes from the value's start. The value is the same, byte
 * for byte, as the statement made (regress export_memory). What the call
 * holds is the array's data, in blocks, and the value, about twice the
 * export's binary size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "common/cryptohash.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#define EXPORT_BLOCK	(1024 * 1024)	/* the array data's blocks */
#define EXPORT_BATCH	64				/* rows fetched at a time */

static const char zeros[4] = {0, 0, 0, 0};

/* Start an export; raise (may be NULL) gives the error for an export over jsonb's limit. */
void
sg_export_begin(SGExport *ex, SGRaiseFn raise, const void *arg)
{
	memset(ex, 0, sizeof(*ex));
	ex->raise = raise;
	ex->arg = arg;
	ex->md5 = pg_cryptohash_create(PG_MD5);
	if (ex->md5 == NULL || pg_cryptohash_init(ex->md5) < 0)
		elog(ERROR, "could not initialize MD5 context: %s", pg_cryptohash_error(ex->md5));
	ex->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "stategraph export row",
									   ALLOCSET_DEFAULT_SIZES);
}

/* The error for an export over jsonb's limit (message: jsonb's own). */
static void pg_attribute_noreturn()
too_large(SGExport *ex, const char *message)
{
	if (ex->raise != NULL)
	{
		ErrorData	edata;

		memset(&edata, 0, sizeof(edata));
		edata.sqlerrcode = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		edata.message = (char *) message;
		ex->raise(&edata, ex->arg);
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("%s", message)));
}

/* Text of the export's members into the digest, as UTF-8 (SG_UTF8_MD5). */
void
sg_export_digest_text(SGExport *ex, const char *s, int len)
{
	const char *utf8 = s;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
	{
		utf8 = pg_server_to_any(s, len, PG_UTF8);
		if (utf8 != s)
			len = strlen(utf8);
	}
	if (pg_cryptohash_update(ex->md5, (const uint8 *) utf8, len) < 0)
		elog(ERROR, "could not update MD5 context: %s", pg_cryptohash_error(ex->md5));
	if (utf8 != s)
		pfree((char *) utf8);
}

/* A jsonb value's text (JSON null for NULL) into the digest. */
void
sg_export_digest_jsonb(SGExport *ex, Jsonb *j)
{
	char	   *text;

	if (j == NULL)
	{
		sg_export_digest_text(ex, "null", 4);
		return;
	}
	text = JsonbToCString(NULL, &j->root, VARSIZE(j));
	sg_export_digest_text(ex, text, strlen(text));
	pfree(text);
}

/* The digest of what went in: md5 in hex. */
char *
sg_export_digest(SGExport *ex)
{
	uint8		sum[16];
	char	   *hex = palloc(33);
	int			i;

	if (pg_cryptohash_final(ex->md5, sum, sizeof(sum)) < 0)
		elog(ERROR, "could not finalize MD5 context: %s", pg_cryptohash_error(ex->md5));
	pg_cryptohash_free(ex->md5);
	ex->md5 = NULL;
	for (i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	return hex;
}

/* Append len bytes to an array's data. */
static void
data_append(SGExportArray *a, const char *data, Size len)
{
	while (len > 0)
	{
		Size		at = a->len % EXPORT_BLOCK;
		Size		n = Min(len, EXPORT_BLOCK - at);

		if (at == 0)
		{
			MemoryContext old = MemoryContextSwitchTo(a->cxt);

			a->blocks = lappend(a->blocks, palloc(EXPORT_BLOCK));
			MemoryContextSwitchTo(old);
		}
		memcpy((char *) llast(a->blocks) + at, data, n);
		a->len += n;
		data += n;
		len -= n;
	}
}

/*
 * Append one element (a container, object or array) to an array, as
 * convertJsonbArray lays it out: aligned to 4 bytes, its JEntry its length
 * (the padding in it), each JB_OFFSET_STRIDE'th its end offset.
 */
static void
array_add(SGExportArray *a, Jsonb *elem)
{
	Size		start = a->len;
	JEntry		meta;

	if (JB_ROOT_IS_SCALAR(elem))
		elog(ERROR, "an export row is not a JSON object");
	data_append(a, zeros, INTALIGN(a->len) - a->len);
	data_append(a, (const char *) &elem->root, VARSIZE(elem) - VARHDRSZ);
	/* (jsonb's own error: sg_export_rows gives it to the export's raise) */
	if (a->len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %u bytes",
						JENTRY_OFFLENMASK)));
	if (a->nelems % JB_OFFSET_STRIDE == 0)
		meta = JENTRY_ISCONTAINER | JENTRY_HAS_OFF | (JEntry) a->len;
	else
		meta = JENTRY_ISCONTAINER | (JEntry) (a->len - start);
	appendBinaryStringInfo(&a->jentries, (const char *) &meta, sizeof(JEntry));
	a->nelems++;
}

/*
 * The rows of a cursor over plan (its one column a jsonb object a row) as
 * an array, their text into the digest (JSON null when there is none, as
 * jsonb_agg of no rows). Errors of jsonb's limit go to the export's raise.
 */
void
sg_export_rows(SGExport *ex, SGExportArray *a, SPIPlanPtr plan, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	Portal		portal;

	memset(a, 0, sizeof(*a));
	a->cxt = cxt;
	initStringInfo(&a->jentries);
	portal = sg_spi_cursor_open(plan, values, nulls);
	PG_TRY();
	{
		uint64		n,
					i;

		while ((n = sg_spi_cursor_fetch(portal, EXPORT_BATCH)) > 0)
		{
			SPITupleTable *tt = SPI_tuptable;

			for (i = 0; i < n; i++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
				Jsonb	   *row;
				char	   *text;

				CHECK_FOR_INTERRUPTS();
				if (isnull)
					elog(ERROR, "an export row is null");
				MemoryContextSwitchTo(ex->rowcxt);
				row = DatumGetJsonbP(d);
				array_add(a, row);
				text = JsonbToCString(NULL, &row->root, VARSIZE(row));
				sg_export_digest_text(ex, a->nelems == 1 ? "[" : ", ", a->nelems == 1 ? 1 : 2);
				sg_export_digest_text(ex, text, strlen(text));
				MemoryContextSwitchTo(cxt);
				MemoryContextReset(ex->rowcxt);
			}
			SPI_freetuptable(tt);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_PROGRAM_LIMIT_EXCEEDED || ex->raise == NULL)
			PG_RE_THROW();
		FlushErrorState();
		ex->raise(edata, ex->arg);
	}
	PG_END_TRY();
	sg_spi_cursor_close(portal);
	if (a->nelems == 0)
		sg_export_digest_text(ex, "null", 4);
	else
		sg_export_digest_text(ex, "]", 1);
}

/* Write len bytes at pos of dst (dst NULL: only count them); returns the position after. */
static Size
put(char *dst, Size pos, const void *src, Size len)
{
	if (dst != NULL && len > 0)
		memcpy(dst + pos, src, len);
	return pos + len;
}

/* Pad to 4 bytes (positions count from the varlena's start, which is aligned). */
static Size
pad(char *dst, Size pos)
{
	return put(dst, pos, zeros, INTALIGN(pos) - pos);
}

/* Write one member's value at pos; *meta gets its JEntry's type and length. */
static Size
put_value(char *dst, Size pos, SGExportMember *m, JEntry *meta)
{
	Size		start = pos;
	JsonbValue *v = &m->value;

	if (m->array != NULL && m->array->nelems > 0)
	{
		SGExportArray *a = m->array;
		uint32		header = (uint32) a->nelems | JB_FARRAY;
		ListCell   *lc;
		Size		left = a->len;

		pos = pad(dst, pos);
		pos = put(dst, pos, &header, sizeof(header));
		pos = put(dst, pos, a->jentries.data, a->jentries.len);
		foreach(lc, a->blocks)
		{
			Size		n = Min(left, EXPORT_BLOCK);

			pos = put(dst, pos, lfirst(lc), n);
			left -= n;
		}
		*meta = JENTRY_ISCONTAINER;
	}
	else if (m->array != NULL || v->type == jbvNull)
		*meta = JENTRY_ISNULL;
	else if (v->type == jbvString)
	{
		pos = put(dst, pos, v->val.string.val, v->val.string.len);
		*meta = JENTRY_ISSTRING;
	}
	else if (v->type == jbvNumeric)
	{
		pos = pad(dst, pos);
		pos = put(dst, pos, v->val.numeric, VARSIZE_ANY(v->val.numeric));
		*meta = JENTRY_ISNUMERIC;
	}
	else if (v->type == jbvBinary)
	{
		pos = pad(dst, pos);
		pos = put(dst, pos, v->val.binary.data, v->val.binary.len);
		*meta = JENTRY_ISCONTAINER;
	}
	else
		elog(ERROR, "unexpected export member type %d", (int) v->type);
	if (pos - start > JENTRY_OFFLENMASK)
		return pos;				/* (the caller's total says it is too large) */
	*meta |= (JEntry) (pos - start);
	return pos;
}

/* jsonb's order of keys (lengthCompareJsonbString): shorter first, then bytes. */
static int
member_cmp(const void *a, const void *b)
{
	const char *ka = ((const SGExportMember *) a)->key;
	const char *kb = ((const SGExportMember *) b)->key;
	size_t		la = strlen(ka),
				lb = strlen(kb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(ka, kb, la);
}

/* Write the object of n members at pos (dst NULL: only count); returns the end. */
static Size
put_object(SGExport *ex, char *dst, SGExportMember *members, int n)
{
	uint32		header = (uint32) n | JB_FOBJECT;
	Size		pos = VARHDRSZ;
	Size		jentries,
				data;
	int			i;

	pos = put(dst, pos, &header, sizeof(header));
	jentries = pos;
	pos += sizeof(JEntry) * n * 2;
	data = pos;
	for (i = 0; i < 2 * n; i++)
	{
		SGExportMember *m = &members[i % n];
		JEntry		meta;

		if (i < n)
		{
			pos = put(dst, pos, m->key, strlen(m->key));
			meta = JENTRY_ISSTRING | (JEntry) strlen(m->key);
		}
		else
			pos = put_value(dst, pos, m, &meta);
		if (pos - data > JENTRY_OFFLENMASK)
			too_large(ex, psprintf("total size of jsonb object elements exceeds the maximum of %u bytes",
								   JENTRY_OFFLENMASK));
		if (i % JB_OFFSET_STRIDE == 0)
			meta = (meta & JENTRY_TYPEMASK) | JENTRY_HAS_OFF | (JEntry) (pos - data);
		(void) put(dst, jentries + sizeof(JEntry) * i, &meta, sizeof(JEntry));
	}
	return pos;
}

/*
 * The export: an object of the n members (keys distinct), in the current
 * context. Frees the arrays' data as it goes.
 */
Jsonb *
sg_export_finish(SGExport *ex, SGExportMember *members, int n)
{
	Size		size;
	char	   *out;
	int			i;

	qsort(members, n, sizeof(SGExportMember), member_cmp);
	size = put_object(ex, NULL, members, n);
	if (size > MaxAllocSize)
		too_large(ex, "an export is more than 1 GB");
	out = palloc(size);
	(void) put_object(ex, out, members, n);
	SET_VARSIZE(out, size);
	for (i = 0; i < n; i++)
		if (members[i].array != NULL)
		{
			list_free_deep(members[i].array->blocks);
			members[i].array->blocks = NIL;
			pfree(members[i].array->jentries.data);
			members[i].array->jentries.data = NULL;
		}
	MemoryContextDelete(ex->rowcxt);
	ex->rowcxt = NULL;
	return (Jsonb *) out;
}

/* A member of an export: a string, a number (its text), a jsonb value (NULL: null), or an array. */
void
sg_export_member_string(SGExportMember *m, const char *key, const char *value)
{
	memset(m, 0, sizeof(*m));
	m->key = key;
	m->value.type = jbvString;
	m->value.val.string.val = (char *) value;
	m->value.val.string.len = strlen(value);
}

void
sg_export_member_number(SGExportMember *m, const char *key, const char *value)
{
	memset(m, 0, sizeof(*m));
	m->key = key;
	m->value.type = jbvNumeric;
	m->value.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(value),
															   ObjectIdGetDatum(InvalidOid),
															   Int32GetDatum(-1)));
}

void
sg_export_member_jsonb(SGExportMember *m, const char *key, Jsonb *value)
{
	memset(m, 0, sizeof(*m));
	m->key = key;
	if (value == NULL)
		m->value.type = jbvNull;
	else if (JB_ROOT_IS_SCALAR(value))
		elog(ERROR, "an export member is a scalar");
	else
	{
		m->value.type = jbvBinary;
		m->value.val.binary.data = &value->root;
		m->value.val.binary.len = VARSIZE(value) - VARHDRSZ;
	}
}

void
sg_export_member_array(SGExportMember *m, const char *key, SGExportArray *a)
{
	memset(m, 0, sizeof(*m));
	m->key = key;
	m->array = a;
}
