// The npm `openai` SDK's Realtime WebSocket client (OpenAIRealtimeWS), pointed at Wardgate's /v1 (OPENAI_BASE_URL):
// it updates the session, asks for TURNS responses one after the other, and prints the event types it received as one
// JSON line. Exit code 1 on an error event, a socket error or a close before the last response.done.
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const turns = Number(process.env.TURNS ?? '2');
const client = new OpenAI({ apiKey: process.env.OPENAI_API_KEY, baseURL: process.env.OPENAI_BASE_URL });
const rt = new OpenAIRealtimeWS({ model: process.env.MODEL ?? 'gpt-realtime' }, client);
const seen = [];
let done = 0;
let finished = false;

function finish(code, why) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify({ seen, done, why }) + '\n');
  rt.close();
  process.exitCode = code;
}

rt.socket.on('open', () => {
  rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'be brief' } });
  rt.send({ type: 'response.create', response: { instructions: 'one two three' } });
});
rt.on('event', (event) => {
  seen.push(event.type);
  if (event.type === 'response.done') {
    done += 1;
    if (done === turns) finish(0, 'done');
    else rt.send({ type: 'response.create', response: { instructions: 'one two three' } });
  }
});
rt.on('error', (err) => finish(1, `error: ${err?.message ?? err}`));
rt.socket.on('close', (code) => finish(1, `closed ${code}`));
