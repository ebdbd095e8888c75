--
-- sg_export_thread writes its value in jsonb's binary layout by hand
-- (src/exportbuild.c: sorted keys, a JEntry offset every JB_OFFSET_STRIDE
-- elements, containers and numerics aligned to 4 bytes) and takes the md5 of
-- its members' text as it goes (over UTF-8). A byte other than jsonb's own
-- would make a value that compares, indexes and prints wrongly. So: the
-- export of threads of every JSON shape (test/export_shapes.psql: empty
-- containers, deep nesting, numbers of every kind, escapes, values that span
-- the builder's 1 MB blocks, objects of more than 32 and 64 keys), of 3 to
-- 1,100 checkpoints (around 32 and 64), forks, LangGraph.js threads in
-- namespaces with blobs of bytes and pending writes, against the statements
-- of before (as regress export_memory), byte for byte, as text, by =, its
-- every element read back, imported and read back; in a UTF8, a LATIN1 and
-- a SQL_ASCII database (the digest is over UTF-8 in each).
--
\set regress_db :DBNAME
\set SHOW_CONTEXT never
CREATE DATABASE sg_export_utf8 TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';
CREATE DATABASE sg_export_latin1 TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C';
CREATE DATABASE sg_export_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LOCALE 'C';

\c sg_export_utf8
SET client_encoding = 'UTF8';
SHOW server_encoding;
\set wide 'é☃λ😀'
\set unicode true
\set big true
\ir test/export_shapes.psql

\c sg_export_latin1
SET client_encoding = 'UTF8';
SHOW server_encoding;
\set wide 'éüßÆ'
\set unicode true
\set big false
\ir test/export_shapes.psql

-- (SQL_ASCII: the bytes as they are, UTF-8's here)
\c sg_export_ascii
SET client_encoding = 'SQL_ASCII';
SHOW server_encoding;
\set wide 'é☃λ😀'
\set unicode false
\set big false
\ir test/export_shapes.psql

\c :regress_db
DROP DATABASE sg_export_utf8;
DROP DATABASE sg_export_latin1;
DROP DATABASE sg_export_ascii;
