-- Every function, procedure, type and table of the extension has a comment
-- (what psql's \df+, \dT+ and \dt+ show), so one added later needs one too.
-- "Of the extension" is what pg_depend records as its members.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION stategraph;
SELECT plan(8);

CREATE FUNCTION pg_temp.members(catalog regclass) RETURNS SETOF oid LANGUAGE sql AS $$
    SELECT d.objid FROM pg_catalog.pg_depend d
    WHERE d.classid = catalog AND d.deptype = 'e'
      AND d.refclassid = 'pg_catalog.pg_extension'::regclass
      AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'stategraph')
$$;
CREATE VIEW pg_temp.uncommented_functions AS
    SELECT p.oid::regprocedure::text AS function FROM pg_catalog.pg_proc p
    WHERE p.oid IN (SELECT pg_temp.members('pg_catalog.pg_proc'))
      AND pg_catalog.obj_description(p.oid, 'pg_proc') IS NULL;

-- the checks look at the real members (so they cannot pass on an empty list)
SELECT cmp_ok((SELECT count(*) FROM pg_temp.members('pg_catalog.pg_proc')), '>=', 21::bigint,
              'the extension has its functions and procedures as members');
SELECT ok('sg_run(text,jsonb,text,uuid,jsonb,integer,text)'::regprocedure IN (SELECT pg_temp.members('pg_catalog.pg_proc')),
          'procedures are members too');

SELECT is_empty('SELECT function FROM pg_temp.uncommented_functions',
                'every function and procedure of stategraph has a comment');
SELECT is_empty($$
    SELECT t.oid::regtype::text FROM pg_catalog.pg_type t
    WHERE t.oid IN (SELECT pg_temp.members('pg_catalog.pg_type'))
      AND pg_catalog.obj_description(t.oid, 'pg_type') IS NULL
$$, 'every type of stategraph has a comment');
SELECT is_empty($$
    SELECT c.oid::regclass::text FROM pg_catalog.pg_class c
    WHERE c.oid IN (SELECT pg_temp.members('pg_catalog.pg_class')) AND c.relkind IN ('r', 'p', 'v', 'm')
      AND pg_catalog.obj_description(c.oid, 'pg_class') IS NULL
$$, 'every table and view of stategraph has a comment');
SELECT isnt(obj_description('stategraph'::regnamespace, 'pg_namespace'), NULL, 'the schema has a comment');

-- a function added to the extension without a comment is found
CREATE FUNCTION stategraph.uncommented_example() RETURNS int LANGUAGE sql RETURN 1;
ALTER EXTENSION stategraph ADD FUNCTION stategraph.uncommented_example();
SELECT results_eq('SELECT function FROM pg_temp.uncommented_functions',
                  $$VALUES ('stategraph.uncommented_example()')$$,
                  'a member function without a comment is reported');
COMMENT ON FUNCTION stategraph.uncommented_example() IS 'an example';
SELECT is_empty('SELECT function FROM pg_temp.uncommented_functions', 'and is no longer once it has one');

SELECT * FROM finish();
ROLLBACK;
