-- floor for sending a state: the chat's final values as one jsonb value in a plain
-- table (stored uncompressed), read and sent to the client. What PostgreSQL itself
-- costs to convert ~200 kB of jsonb to text and send it, whoever built the value.
SELECT v FROM bench_state_floor;
