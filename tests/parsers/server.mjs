// A legacy Node API behind the gateway: express with its urlencoded body
// parser (qs, `extended: true`) and multer (busboy) for multipart bodies.
// It reports the top-level names each parser produced: query (qs),
// body (urlencoded fields or multipart text fields), files (multipart file
// field names), and error (a parser's refusal).
//
// node server.mjs <port>   prints {"ready":true,"port":<port>} when listening.
import express from 'express';
import multer from 'multer';

const port = Number(process.argv[2]);
const app = express();
app.set('query parser', 'extended');
app.use(express.urlencoded({ extended: true, limit: '10mb' }));
const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 10 << 20 } }).any();

app.use((req, res) => {
  upload(req, res, (err) => {
    const report = () => res.json({
      parser: 'express, multer',
      query: Object.keys(req.query ?? {}),
      body: Object.keys(req.body ?? {}),
      files: (req.files ?? []).map((f) => f.fieldname),
      error: err ? String(err.message || err) : undefined,
    });
    // A body no parser read is still received whole before the answer.
    if (req.readableEnded) {
      report();
    } else {
      req.on('end', report).resume();
    }
  });
});

// A parser's error (a malformed urlencoded body, say) still gets a report.
app.use((err, req, res, _next) => {
  res.status(200).json({ parser: 'express', query: Object.keys(req.query ?? {}), body: [], files: [], error: String(err.message || err) });
});

const server = app.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ ready: true, port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
