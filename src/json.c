/*-------------------------------------------------------------------------
 *
 * json.c
 *		Small jsonb helpers: build objects and arrays, read keys and
 *		elements, without going through text.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "stategraph.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* ---------------------------------------------------------------------------
 * Builder: a thin wrapper over pushJsonbValue
 * ---------------------------------------------------------------------------
 */

/*
 * Begin or end an object or an array (sg_jb_begin_object and the others
 * of stategraph.h); the outermost end leaves the result for sg_jb_finish.
 */
void
sg_jb_container(SGJsonBuilder *b, JsonbIteratorToken tok)
{
	b->result = pushJsonbValue(&b->state, tok, NULL);
}

/* The token a value takes where the builder stands: an object value or an array element. */
static JsonbIteratorToken
value_token(SGJsonBuilder *b)
{
	return b->state->contVal.type == jbvArray ? WJB_ELEM : WJB_VALUE;
}

/* Push a value where the builder stands. */
static void
push_value(SGJsonBuilder *b, JsonbValue *v)
{
	pushJsonbValue(&b->state, value_token(b), v);
}

/* A jsonb string value of a copy of s: the builder keeps pointers until sg_jb_finish. */
static JsonbValue
string_value(const char *s)
{
	JsonbValue	v = {.type = jbvString};

	v.val.string.val = pstrdup(s);
	v.val.string.len = strlen(s);
	return v;
}

/* A key of the object being built (copied). */
void
sg_jb_key(SGJsonBuilder *b, const char *key)
{
	JsonbValue	v = string_value(key);

	pushJsonbValue(&b->state, WJB_KEY, &v);
}

/* A string value (copied). */
void
sg_jb_string(SGJsonBuilder *b, const char *value)
{
	JsonbValue	v = string_value(value);

	push_value(b, &v);
}

/* An integer value. */
void
sg_jb_int(SGJsonBuilder *b, int64 value)
{
	JsonbValue	v = {.type = jbvNumeric, .val.numeric = int64_to_numeric(value)};

	push_value(b, &v);
}

/* A boolean value. */
void
sg_jb_bool(SGJsonBuilder *b, bool value)
{
	JsonbValue	v = {.type = jbvBool, .val.boolean = value};

	push_value(b, &v);
}

/* A null value. */
void
sg_jb_null(SGJsonBuilder *b)
{
	JsonbValue	v = {.type = jbvNull};

	push_value(b, &v);
}

/* Push a whole jsonb value (scalar, array or object); NULL pushes json null. */
void
sg_jb_jsonb(SGJsonBuilder *b, Jsonb *value)
{
	JsonbValue	v;

	if (value == NULL)
	{
		sg_jb_null(b);
		return;
	}
	if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbExtractScalar(&value->root, &v);
		push_value(b, &v);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	push_value(b, &v);
}

/* A key and a jsonb value (NULL: json null) of the object being built. */
void
sg_jb_field(SGJsonBuilder *b, const char *key, Jsonb *value)
{
	sg_jb_key(b, key);
	sg_jb_jsonb(b, value);
}

/* A key and a string value (NULL: json null) of the object being built. */
void
sg_jb_string_field(SGJsonBuilder *b, const char *key, const char *value)
{
	sg_jb_key(b, key);
	if (value)
		sg_jb_string(b, value);
	else
		sg_jb_null(b);
}

/* The jsonb built, once its outermost container has ended. */
Jsonb *
sg_jb_finish(SGJsonBuilder *b)
{
	return JsonbValueToJsonb(b->result);
}

/* ---------------------------------------------------------------------------
 * Readers
 * ---------------------------------------------------------------------------
 */

/*
 * The next key (copied) and value of an object, from an iterator begun on
 * it with JsonbIteratorInit; false at its end.
 */
bool
sg_jsonb_next_pair(JsonbIterator **it, char **key, JsonbValue *value)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, value, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		*key = pnstrdup(value->val.string.val, value->val.string.len);
		JsonbIteratorNext(it, value, true);
		return true;
	}
	return false;
}

/* Is j an object? */
bool
sg_jsonb_is_object(Jsonb *j)
{
	return j != NULL && JB_ROOT_IS_OBJECT(j);
}

/* Is j an array? */
bool
sg_jsonb_is_array(Jsonb *j)
{
	return j != NULL && JB_ROOT_IS_ARRAY(j) && !JB_ROOT_IS_SCALAR(j);
}

/* Is j a scalar of this type? */
bool
sg_jsonb_is_scalar(Jsonb *j, enum jbvType type)
{
	JsonbValue	v;

	if (j == NULL || !JB_ROOT_IS_SCALAR(j))
		return false;
	JsonbExtractScalar(&j->root, &v);
	return v.type == type;
}

/* The length of an array (0 for anything else). */
int
sg_jsonb_array_length(Jsonb *j)
{
	return sg_jsonb_is_array(j) ? (int) JB_ROOT_COUNT(j) : 0;
}

/* A JsonbValue (scalar or binary container) as a Jsonb datum. */
Jsonb *
sg_jsonb_from_value(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

/* obj[key], or NULL when obj is not an object or has no such key. */
Jsonb *
sg_jsonb_get(Jsonb *obj, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	if (!sg_jsonb_is_object(obj))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&obj->root, JB_FOBJECT, &k);
	return v ? JsonbValueToJsonb(v) : NULL;
}

/* Element i of an array, or NULL. */
Jsonb *
sg_jsonb_array_get(Jsonb *arr, int i)
{
	JsonbValue *v;

	if (!sg_jsonb_is_array(arr))
		return NULL;
	v = getIthJsonbValueFromContainer(&arr->root, i);
	return v ? JsonbValueToJsonb(v) : NULL;
}

/* The string of a jsonb string scalar, or NULL for anything else. */
char *
sg_jsonb_as_cstring(Jsonb *j)
{
	JsonbValue	v;

	if (j == NULL || !JB_ROOT_IS_SCALAR(j))
		return NULL;
	JsonbExtractScalar(&j->root, &v);
	if (v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/*
 * A string JsonbValue (or NULL) as a C string, or NULL. Read so, not through
 * a scalar jsonb, a string takes its own length: a scalar jsonb takes 1 kB
 * or more (convertToJsonb's buffer), which a loaded graph kept for each
 * name it read (about 2.7 kB an edge and 1.5 kB a node).
 */
static char *
value_cstring(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* obj[key] as a C string, when it is a string; else NULL. */
char *
sg_jsonb_get_cstring(Jsonb *obj, const char *key)
{
	JsonbValue	k;

	if (!sg_jsonb_is_object(obj))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return value_cstring(findJsonbValueFromContainer(&obj->root, JB_FOBJECT, &k));
}

/* Element i of an array as a C string, when it is a string; else NULL. */
char *
sg_jsonb_array_get_cstring(Jsonb *arr, int i)
{
	if (!sg_jsonb_is_array(arr))
		return NULL;
	return value_cstring(getIthJsonbValueFromContainer(&arr->root, i));
}

/* A jsonb value from its text. */
Jsonb *
sg_jsonb_from_cstring(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* A jsonb string. */
Jsonb *
sg_jsonb_string(const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	return JsonbValueToJsonb(&v);
}

/* A copy of a jsonb value in the current memory context (NULL stays NULL). */
Jsonb *
sg_jsonb_copy(Jsonb *j)
{
	if (j == NULL)
		return NULL;
	return (Jsonb *) pg_detoast_datum_copy((struct varlena *) j);
}

/* An empty object or array: its begin and end tokens. */
static Jsonb *
empty_container(JsonbIteratorToken begin, JsonbIteratorToken end)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, begin, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, end, NULL));
}

/* {} */
Jsonb *
sg_jsonb_empty_object(void)
{
	return empty_container(WJB_BEGIN_OBJECT, WJB_END_OBJECT);
}

/* [] */
Jsonb *
sg_jsonb_empty_array(void)
{
	return empty_container(WJB_BEGIN_ARRAY, WJB_END_ARRAY);
}

/* obj with key set to value (obj may be NULL: a new object). */
Jsonb *
sg_jsonb_set_key(Jsonb *obj, const char *key, Jsonb *value)
{
	SGJsonBuilder b = {0};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	size_t		keylen = strlen(key);

	sg_jb_begin_object(&b);
	if (sg_jsonb_is_object(obj))
	{
		it = JsonbIteratorInit(&obj->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_KEY)
				continue;
			if ((size_t) v.val.string.len == keylen && memcmp(v.val.string.val, key, keylen) == 0)
			{
				JsonbIteratorNext(&it, &v, true);
				continue;
			}
			pushJsonbValue(&b.state, WJB_KEY, &v);
			tok = JsonbIteratorNext(&it, &v, true);
			pushJsonbValue(&b.state, WJB_VALUE, &v);
		}
	}
	sg_jb_key(&b, key);
	sg_jb_jsonb(&b, value);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

/* The JSON type name of a value, for error messages. */
char *
sg_jsonb_type_name(Jsonb *j)
{
	JsonbValue	v;

	if (j == NULL)
		return "null";
	if (JB_ROOT_IS_OBJECT(j))
		return "object";
	if (!JB_ROOT_IS_SCALAR(j))
		return "array";
	JsonbExtractScalar(&j->root, &v);
	switch (v.type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		default:
			return "unknown";
	}
}

/* Concatenate two jsonb arrays. */
Jsonb *
sg_jsonb_concat_arrays(Jsonb *a, Jsonb *b)
{
	JsonbContainer *parts[2];

	if (a == NULL || JB_ROOT_COUNT(a) == 0)
		return b;
	if (b == NULL || JB_ROOT_COUNT(b) == 0)
		return a;
	parts[0] = &a->root;
	parts[1] = &b->root;
	return sg_jsonb_array_concat(2, parts);
}

/* A jsonb array of strings. */
Jsonb *
sg_text_array_to_jsonb(int n, char **items)
{
	SGJsonBuilder b = {0};
	int			i;

	sg_jb_begin_array(&b);
	for (i = 0; i < n; i++)
		sg_jb_string(&b, items[i]);
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
}

/* ---------------------------------------------------------------------------
 * Byte-level assembly
 *
 * The state of a thread is one jsonb object made of its channels' values,
 * and an append channel's value is the concatenation of arrays. Building
 * them through JsonbValue trees would unpack and repack every element; here
 * elements are copied as they are stored, with their JEntries recomputed.
 * The layout is that of utils/jsonb.h: a container is a header, one JEntry
 * per child (an object's keys first, then its values), then the children's
 * data; numerics and containers start at a 4-byte boundary, the padding
 * counted in their length; every JB_OFFSET_STRIDE'th JEntry holds the end
 * offset instead of the length.
 * ---------------------------------------------------------------------------
 */
typedef struct Assembly
{
	char	   *buf;
	JEntry	   *children;		/* of the container being built */
	char	   *data;			/* its data area */
	uint32		len;			/* data bytes written */
	int			index;			/* next child */
} Assembly;

/* Append one child (its type, bytes and length as stored in src) to the container. */
static void
assemble_child(Assembly *a, uint32 type, const char *bytes, uint32 len)
{
	JEntry		meta;
	uint32		elen = len;

	if (type == JENTRY_ISNUMERIC || type == JENTRY_ISCONTAINER)
	{
		uint32		pad = INTALIGN(a->len) - a->len;

		memset(a->data + a->len, 0, pad);
		a->len += pad;
		elen = pad + len;
	}
	memcpy(a->data + a->len, bytes, len);
	a->len += len;
	meta = type | elen;
	if ((a->index % JB_OFFSET_STRIDE) == 0)
		meta = type | a->len | JENTRY_HAS_OFF;
	a->children[a->index++] = meta;
}

/* Append child i of container src, dropping the padding it had there. */
static void
assemble_from(Assembly *a, const JsonbContainer *src, int i)
{
	uint32		count = src->header & JB_CMASK;
	uint32		nchildren = (src->header & JB_FOBJECT) ? count * 2 : count;
	const char *base = (const char *) &src->children[nchildren];
	uint32		type = src->children[i] & JENTRY_TYPEMASK;
	uint32		off = getJsonbOffset(src, i);
	uint32		len = getJsonbLength(src, i);

	if (type == JENTRY_ISNUMERIC || type == JENTRY_ISCONTAINER)
	{
		uint32		pad = INTALIGN(off) - off;

		off += pad;
		len -= pad;
	}
	assemble_child(a, type, base + off, len);
}

/*
 * Append every element of array src. Where the data written so far ends on a
 * 4-byte boundary the elements keep their padding, so their data is copied
 * in one block and only the JEntries are rewritten; otherwise one by one.
 */
static void
assemble_elements(Assembly *a, const JsonbContainer *src)
{
	uint32		count = src->header & JB_CMASK;
	const char *base = (const char *) &src->children[count];
	uint32		start = a->len;
	uint32		end = 0;
	uint32		i;

	if (count == 0)
		return;
	if (start % 4 != 0)
	{
		for (i = 0; i < count; i++)
			assemble_from(a, src, i);
		return;
	}
	for (i = 0; i < count; i++)
	{
		JEntry		e = src->children[i];
		uint32		type = e & JENTRY_TYPEMASK;
		uint32		len = JBE_HAS_OFF(e) ? JBE_OFFLENFLD(e) - end : JBE_OFFLENFLD(e);

		end += len;
		if ((a->index % JB_OFFSET_STRIDE) == 0)
			a->children[a->index++] = type | (start + end) | JENTRY_HAS_OFF;
		else
			a->children[a->index++] = type | len;
	}
	memcpy(a->data + start, base, end);
	a->len = start + end;
}

/* Append a whole jsonb datum as one child (a raw scalar as its scalar). */
static void
assemble_datum(Assembly *a, Jsonb *value)
{
	if (JB_ROOT_IS_SCALAR(value))
		assemble_from(a, &value->root, 0);
	else
		assemble_child(a, JENTRY_ISCONTAINER, (const char *) &value->root, VARSIZE(value) - VARHDRSZ);
}

/* Start a container of nchildren JEntries with room for datalen bytes of data. */
static void
assemble_begin(Assembly *a, uint32 header, int nchildren, Size datalen)
{
	Size		size = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * nchildren + datalen + 4 * (nchildren + 1);

	if (size > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
						JENTRY_OFFLENMASK)));
	a->buf = palloc(size);
	*(uint32 *) (a->buf + VARHDRSZ) = header;
	a->children = (JEntry *) (a->buf + VARHDRSZ + sizeof(uint32));
	a->data = (char *) &a->children[nchildren];
	a->len = 0;
	a->index = 0;
}

/* The jsonb an assembly built. */
static Jsonb *
assemble_end(Assembly *a)
{
	Jsonb	   *j = (Jsonb *) a->buf;

	SET_VARSIZE(j, a->data + a->len - a->buf);
	return j;
}

/* The elements of arrays[0..n-1] (array containers), in order, as one new array. */
Jsonb *
sg_jsonb_array_concat(int n, JsonbContainer **arrays)
{
	Assembly	a;
	Size		datalen = 0;
	int			total = 0;
	int			k;

	for (k = 0; k < n; k++)
	{
		int			count = arrays[k]->header & JB_CMASK;

		total += count;
		if (count > 0)
			datalen += getJsonbOffset(arrays[k], count - 1) + getJsonbLength(arrays[k], count - 1);
	}
	if (total > (int) JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("number of jsonb array elements exceeds the maximum allowed (%zu)",
						(size_t) JB_CMASK)));
	assemble_begin(&a, total | JB_FARRAY, total, datalen);
	for (k = 0; k < n; k++)
		assemble_elements(&a, arrays[k]);
	return assemble_end(&a);
}

/* A key of an object being built, with its length and its index in the caller's arrays. */
typedef struct ObjectKey
{
	const char *key;
	size_t		len;
	int			i;
} ObjectKey;

/* Jsonb object key order: shorter keys first, then bytewise (qsort of ObjectKey). */
static int
key_order(const void *a, const void *b)
{
	const ObjectKey *ka = (const ObjectKey *) a;
	const ObjectKey *kb = (const ObjectKey *) b;

	if (ka->len != kb->len)
		return ka->len < kb->len ? -1 : 1;
	return memcmp(ka->key, kb->key, ka->len);
}

/*
 * Append, as one child, the array made of the elements of arrays[0..n-1],
 * written in place.
 */
static void
assemble_array_child(Assembly *a, int n, JsonbContainer **arrays)
{
	Assembly	child;
	uint32		pad = INTALIGN(a->len) - a->len;
	uint32		start;
	int			total = 0;
	int			k;
	JEntry		meta;

	for (k = 0; k < n; k++)
		total += arrays[k]->header & JB_CMASK;
	memset(a->data + a->len, 0, pad);
	a->len += pad;
	start = a->len;
	*(uint32 *) (a->data + start) = total | JB_FARRAY;
	child.children = (JEntry *) (a->data + start + sizeof(uint32));
	child.data = (char *) &child.children[total];
	child.len = 0;
	child.index = 0;
	for (k = 0; k < n; k++)
		assemble_elements(&child, arrays[k]);
	a->len = child.data + child.len - a->data;
	meta = JENTRY_ISCONTAINER | (a->len - start + pad);
	if ((a->index % JB_OFFSET_STRIDE) == 0)
		meta = JENTRY_ISCONTAINER | a->len | JENTRY_HAS_OFF;
	a->children[a->index++] = meta;
}

/*
 * The object {keys[i]: values[i]} for the values that are not NULL, where a
 * value with parts[i] is the array of values[i]'s elements followed by those
 * of each part (all arrays). Keys must be distinct.
 */
Jsonb *
sg_jsonb_object_build(int n, const char **keys, Jsonb **values, List **parts)
{
	Assembly	a;
	ObjectKey  *order = palloc(sizeof(ObjectKey) * (n + 1));
	Size		datalen = 0;
	int			npairs = 0;
	int			i;

	/*
	 * The present keys, sorted into jsonb order. (An insertion sort took
	 * O(n^2) for the channels of a graph, which come sorted by strcmp: a
	 * state of 100,000 channels took seconds to read.)
	 */
	for (i = 0; i < n; i++)
	{
		ListCell   *lc;

		if (values[i] == NULL && (parts == NULL || parts[i] == NIL))
			continue;
		order[npairs].key = keys[i];
		order[npairs].len = strlen(keys[i]);
		order[npairs].i = i;
		datalen += order[npairs].len + (values[i] ? VARSIZE(values[i]) : 0);
		npairs++;
		if (values[i] != NULL && !JB_ROOT_IS_SCALAR(values[i]))
			datalen += 3 * JB_ROOT_COUNT(values[i]);	/* elements may need new padding */
		if (parts != NULL)
			foreach(lc, parts[i])
			{
				Jsonb	   *p = (Jsonb *) lfirst(lc);

				datalen += VARSIZE(p) + 3 * JB_ROOT_COUNT(p);
			}
	}
	qsort(order, npairs, sizeof(ObjectKey), key_order);
	assemble_begin(&a, npairs | JB_FOBJECT, npairs * 2, datalen);
	for (i = 0; i < npairs; i++)
		assemble_child(&a, JENTRY_ISSTRING, order[i].key, order[i].len);
	for (i = 0; i < npairs; i++)
	{
		int			k = order[i].i;

		if (parts != NULL && parts[k] != NIL)
		{
			JsonbContainer **arrays = palloc(sizeof(JsonbContainer *) * (list_length(parts[k]) + 1));
			int			m = 0;
			ListCell   *lc;

			if (values[k] != NULL)
				arrays[m++] = &values[k]->root;
			foreach(lc, parts[k])
				arrays[m++] = &((Jsonb *) lfirst(lc))->root;
			assemble_array_child(&a, m, arrays);
		}
		else
			assemble_datum(&a, values[k]);
	}
	return assemble_end(&a);
}

/* The last count elements of array arr, as a new array. */
Jsonb *
sg_jsonb_array_tail(Jsonb *arr, int count)
{
	Assembly	a;
	int			n = JB_ROOT_COUNT(arr);
	int			from = Max(n - count, 0);
	int			i;

	assemble_begin(&a, (n - from) | JB_FARRAY, n - from, VARSIZE(arr));
	for (i = from; i < n; i++)
		assemble_from(&a, &arr->root, i);
	return assemble_end(&a);
}

/* ---------------------------------------------------------------------------
 * jsonb as JSON text, fast
 * ---------------------------------------------------------------------------
 */

/*
 * Appends s[0..len) as a JSON string: quoted, with '"', '\\' and control
 * characters escaped as escape_json does, and every run of other bytes
 * copied at once (escape_json appends them one by one, which made it a
 * fifth of a LangGraph.js getTuple of a long conversation).
 */
static void
append_json_string(StringInfo out, const char *s, int len)
{
	int			run = 0;
	int			i;

	appendStringInfoCharMacro(out, '"');
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c >= ' ' && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, s + run, i - run);
		run = i + 1;
		switch (c)
		{
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			default:
				appendStringInfo(out, "\\u%04x", (int) c);
				break;
		}
	}
	appendBinaryStringInfo(out, s + run, len - run);
	appendStringInfoCharMacro(out, '"');
}

/* Appends one scalar as JsonbToCString writes it. */
static void
append_json_scalar(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvString:
			append_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																		   NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		default:
			elog(ERROR, "unexpected jsonb scalar type %d", (int) v->type);
	}
}

/*
 * Appends j as JSON text, byte for byte what JsonbToCString (jsonb's output
 * function) writes: ", " between elements and members, ": " after keys, a
 * raw scalar without brackets. elements: of an array, only its elements
 * (without the outer brackets, to be joined to other elements).
 */
void
sg_jsonb_append_text(StringInfo out, Jsonb *j, bool elements)
{
	JsonbIterator *it = JsonbIteratorInit(&j->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		first = true;
	bool		raw_scalar = false;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				if (v.val.array.rawScalar)
					raw_scalar = true;
				else if (!(elements && depth == 0))
					appendStringInfoCharMacro(out, '[');
				depth++;
				first = true;
				break;
			case WJB_BEGIN_OBJECT:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				appendStringInfoCharMacro(out, '{');
				depth++;
				first = true;
				break;
			case WJB_KEY:
				if (!first)
					appendBinaryStringInfo(out, ", ", 2);
				append_json_string(out, v.val.string.val, v.val.string.len);
				appendBinaryStringInfo(out, ": ", 2);
				first = true;	/* a container value follows without ", " */
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (!first && tok == WJB_ELEM)
					appendBinaryStringInfo(out, ", ", 2);
				append_json_scalar(out, &v);
				first = false;
				break;
			case WJB_END_ARRAY:
				depth--;
				if (!raw_scalar && !(elements && depth == 0))
					appendStringInfoCharMacro(out, ']');
				first = false;
				break;
			case WJB_END_OBJECT:
				depth--;
				appendStringInfoCharMacro(out, '}');
				first = false;
				break;
			default:
				elog(ERROR, "unexpected jsonb iterator token %d", (int) tok);
		}
	}
}
