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

/* Builder: a thin wrapper over pushJsonbValue. */
void
sg_jb_begin_object(SGJsonBuilder *b)
{
	b->result = pushJsonbValue(&b->state, WJB_BEGIN_OBJECT, NULL);
}

void
sg_jb_begin_array(SGJsonBuilder *b)
{
	b->result = pushJsonbValue(&b->state, WJB_BEGIN_ARRAY, NULL);
}

void
sg_jb_end_object(SGJsonBuilder *b)
{
	b->result = pushJsonbValue(&b->state, WJB_END_OBJECT, NULL);
}

void
sg_jb_end_array(SGJsonBuilder *b)
{
	b->result = pushJsonbValue(&b->state, WJB_END_ARRAY, NULL);
}

/* The token a value takes where the builder stands: an object value or an array element. */
static JsonbIteratorToken
value_token(SGJsonBuilder *b)
{
	return b->state->contVal.type == jbvArray ? WJB_ELEM : WJB_VALUE;
}

/* Keys and strings are copied: the builder keeps pointers until sg_jb_finish. */
void
sg_jb_key(SGJsonBuilder *b, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = pstrdup(key);
	v.val.string.len = strlen(key);
	pushJsonbValue(&b->state, WJB_KEY, &v);
}

void
sg_jb_string(SGJsonBuilder *b, const char *value)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = pstrdup(value);
	v.val.string.len = strlen(value);
	pushJsonbValue(&b->state, value_token(b), &v);
}

void
sg_jb_int(SGJsonBuilder *b, int64 value)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(value);
	pushJsonbValue(&b->state, value_token(b), &v);
}

void
sg_jb_bool(SGJsonBuilder *b, bool value)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = value;
	pushJsonbValue(&b->state, value_token(b), &v);
}

void
sg_jb_null(SGJsonBuilder *b)
{
	JsonbValue	v;

	v.type = jbvNull;
	pushJsonbValue(&b->state, value_token(b), &v);
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
		pushJsonbValue(&b->state, value_token(b), &v);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	pushJsonbValue(&b->state, value_token(b), &v);
}

Jsonb *
sg_jb_finish(SGJsonBuilder *b)
{
	return JsonbValueToJsonb(b->result);
}

/* Readers */
bool
sg_jsonb_is_object(Jsonb *j)
{
	return j != NULL && JB_ROOT_IS_OBJECT(j);
}

bool
sg_jsonb_is_array(Jsonb *j)
{
	return j != NULL && JB_ROOT_IS_ARRAY(j) && !JB_ROOT_IS_SCALAR(j);
}

bool
sg_jsonb_is_scalar(Jsonb *j, enum jbvType type)
{
	JsonbValue	v;

	if (j == NULL || !JB_ROOT_IS_SCALAR(j))
		return false;
	JsonbExtractScalar(&j->root, &v);
	return v.type == type;
}

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

char *
sg_jsonb_get_cstring(Jsonb *obj, const char *key)
{
	return sg_jsonb_as_cstring(sg_jsonb_get(obj, key));
}

Jsonb *
sg_jsonb_from_cstring(const char *s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

Jsonb *
sg_jsonb_string(const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	return JsonbValueToJsonb(&v);
}

Jsonb *
sg_jsonb_copy(Jsonb *j)
{
	if (j == NULL)
		return NULL;
	return (Jsonb *) pg_detoast_datum_copy((struct varlena *) j);
}

Jsonb *
sg_jsonb_empty_object(void)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_object(&b);
	sg_jb_end_object(&b);
	return sg_jb_finish(&b);
}

Jsonb *
sg_jsonb_empty_array(void)
{
	SGJsonBuilder b = {0};

	sg_jb_begin_array(&b);
	sg_jb_end_array(&b);
	return sg_jb_finish(&b);
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
	SGJsonBuilder bld = {0};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Jsonb	   *parts[2];
	int			i;

	if (a == NULL || JB_ROOT_COUNT(a) == 0)
		return b;
	if (b == NULL || JB_ROOT_COUNT(b) == 0)
		return a;
	parts[0] = a;
	parts[1] = b;
	sg_jb_begin_array(&bld);
	for (i = 0; i < 2; i++)
	{
		it = JsonbIteratorInit(&parts[i]->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
				pushJsonbValue(&bld.state, WJB_ELEM, &v);
	}
	sg_jb_end_array(&bld);
	return sg_jb_finish(&bld);
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
