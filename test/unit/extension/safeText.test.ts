import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { failureNotice, MAX_DISPLAY_CHARS, safeDisplayText } from '../../../src/extension/safeText';
import { WorkerClient, WorkerFailure } from '../../../src/extension/workerClient';
import { copyCombustionExample } from '../../helpers/models';

/** VS Code's rule for links in notification text (vs/base/common/linkedText.ts). */
const NOTIFICATION_LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^)\s]+)(?: (["'])(.+?)(\3))?\)/gi;
const QUIT_LINK = '[x](command:workbench.action.quit "t")';

function assertInert(text: string): void {
  assert.strictEqual(text.match(NOTIFICATION_LINK), null, `a link in ${text}`);
  assert.ok(!/[[\]]|\]\(|\$\(|command:|vscode:/i.test(text), `link or icon syntax left in ${text}`);
}

describe('text from models and paths in notifications', () => {
  it('breaks command links, vscode: links, brackets and icon syntax', () => {
    for (const text of [QUIT_LINK, 'see [here](https://example.com)', 'open vscode:extension/x', 'VSCODE-INSIDERS:x', 'a $(zap) b', 'Command : x']) {
      assertInert(safeDisplayText(text));
    }
  });

  it('keeps ordinary text as it is, and turns line breaks, controls and bidi overrides into spaces', () => {
    assert.strictEqual(safeDisplayText('/models/mlp (v2)/model.json: weight "dense/kernel" is truncated'), '/models/mlp (v2)/model.json: weight "dense/kernel" is truncated');
    assert.strictEqual(safeDisplayText('a\nb\r\nc\u0000d\u202ee'), 'a b c d e');
  });

  it('cuts long texts', () => {
    const cut = safeDisplayText('x'.repeat(5 * MAX_DISPLAY_CHARS));
    assert.strictEqual(cut.length, MAX_DISPLAY_CHARS);
    assert.ok(cut.endsWith('…'));
  });

  describe('a TF.js weight named like a command link', function () {
    const client = new WorkerClient(path.join(__dirname, '../../../dist/worker.js'));
    after(() => client.dispose());

    it('fails to open (float64) with a notification whose text is inert, naming the file and the problem', async () => {
      const model = await copyCombustionExample();
      const json = JSON.parse(await fs.readFile(model, 'utf8')) as { weightsManifest: { weights: Record<string, unknown>[] }[] };
      json.weightsManifest[0].weights[0] = { ...json.weightsManifest[0].weights[0], name: QUIT_LINK, dtype: 'float64' };
      await fs.writeFile(model, JSON.stringify(json));
      const failure = await client.request({ type: 'analyze', file: model, backend: 'cpu' }).then(
        () => assert.fail('a float64 weight should be refused'),
        (e: unknown) => e,
      );
      assert.ok(failure instanceof WorkerFailure && failure.input, String(failure));
      // The engine quotes the name whole (escaped as a JSON string, as every name from a file); only what is shown changes.
      assert.ok(failure.message.includes(JSON.stringify(QUIT_LINK)), failure.message);
      const notice = failureNotice(failure);
      assertInert(notice);
      assert.ok(notice.startsWith(`Condense: ${model}`) && notice.includes('float64'), notice);
    });
  });
});
