// The DuckDB anti-join people write to drop listed client IDs from gzip CSV
// archives: one COPY per archive, gzip CSV in, gzip CSV out, with DuckDB's
// own threads. Run by the bench runner:
//
//	node antijoin.mjs THREADS IDS.csv OUTDIR LISTFILE
//
// LISTFILE holds the input paths, separated by NUL bytes. IDS.csv has the
// header "Client ID" and one ID per line. Each output goes to
// OUTDIR/<input's base name>.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const [threads, idsCsv, outDir, listFile] = process.argv.slice(2);
const files = readFileSync(listFile, 'utf8').split('\0').filter(Boolean);
const lit = (s) => "'" + s.replaceAll("'", "''") + "'";

const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const con = await db.connect();
const version = (await con.runAndReadAll('SELECT version() AS v')).getRows()[0][0];
console.error(`duckdb ${version}, threads=${threads}`);
await con.run(`CREATE TABLE ids AS SELECT * FROM read_csv(${lit(idsCsv)}, header = true, all_varchar = true)`);
for (const f of files) {
  // all_varchar keeps every value as text (no re-typed timestamps or
  // numbers); the quote and escape are the CSV standard's.
  await con.run(`COPY (
      SELECT t.* FROM read_csv(${lit(f)}, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"') AS t
      ANTI JOIN ids USING ("Client ID")
    ) TO ${lit(join(outDir, basename(f)))} (FORMAT csv, HEADER true, COMPRESSION gzip)`);
}
