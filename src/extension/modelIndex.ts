import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { HEAD_BYTES, isModelExtension, isTfjsModelFile, looksLikeBinaryModel, MODEL_GLOB } from './modelDetection';
import { ModelJsonParser } from './modelJsonParser';
import { readSettings } from './settings';

/**
 * The model files in the workspace, found by content. Scanning reads files asynchronously, a few at
 * a time, and parses large model.json files off the host's thread, so it never blocks the extension host.
 * Keeps the `condense.modelFiles` context key (for menus' when clauses) in step.
 */
export class ModelIndex implements vscode.Disposable {
  private readonly models = new Set<string>();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly fileChanged = new vscode.EventEmitter<string>();
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChange = this.changed.event;
  /** Fires with every changed, created or deleted file (so stale analyses can be dropped). */
  readonly onDidChangeFile = this.fileChanged.event;
  private scanning: Promise<void> | undefined;

  constructor(private readonly modelJson: ModelJsonParser) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*');
    const touched = (uri: vscode.Uri, removed: boolean): void => {
      if (uri.scheme !== 'file' || uri.fsPath.includes(`${path.sep}node_modules${path.sep}`)) return;
      this.fileChanged.fire(uri.fsPath);
      if (!isModelExtension(uri.fsPath)) return;
      if (removed) this.remove(uri.fsPath);
      else void this.check(uri);
    };
    this.disposables.push(
      watcher,
      watcher.onDidCreate((u) => touched(u, false)),
      watcher.onDidChange((u) => touched(u, false)),
      watcher.onDidDelete((u) => touched(u, true)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('condense.exclude') || e.affectsConfiguration('files.exclude')) void this.rescan();
      }),
    );
  }

  list(): string[] {
    return [...this.models].sort();
  }

  has(file: string): boolean {
    return this.models.has(file);
  }

  /** The first scan's promise (shared); `rescan` starts over. */
  scan(): Promise<void> {
    this.scanning ??= this.run();
    return this.scanning;
  }

  rescan(): Promise<void> {
    this.scanning = undefined;
    this.models.clear();
    return this.scan();
  }

  /** Checks one file by content and adds or removes it; returns whether it is a model. */
  async check(uri: vscode.Uri): Promise<boolean> {
    let isModel: boolean;
    try {
      isModel = isTfjsModelFile(uri.fsPath) ? await this.modelJson.isTfjsModelFile(uri.fsPath) : await isBinaryModel(uri.fsPath);
    } catch {
      isModel = false;
    }
    if (isModel && !this.models.has(uri.fsPath)) {
      this.models.add(uri.fsPath);
      this.publish();
    } else if (!isModel) {
      this.remove(uri.fsPath);
    }
    return isModel;
  }

  private remove(file: string): void {
    if (this.models.delete(file)) this.publish();
  }

  private async run(): Promise<void> {
    const candidates = await vscode.workspace.findFiles(MODEL_GLOB, excludeGlob());
    // A handful of reads in flight at a time: enough to be quick, never a burst that starves the host.
    const queue = [...candidates];
    const next = async (): Promise<void> => {
      for (let uri = queue.shift(); uri; uri = queue.shift()) await this.check(uri);
    };
    await Promise.all(Array.from({ length: 4 }, next));
    this.publish();
  }

  private publish(): void {
    void vscode.commands.executeCommand('setContext', 'condense.modelFiles', this.list());
    void vscode.commands.executeCommand('setContext', 'condense.hasModels', this.models.size > 0);
    this.changed.fire();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.changed.dispose();
    this.fileChanged.dispose();
  }
}

/** Binary formats are recognised by their first bytes; the rest of a possibly large file is never read here. */
async function isBinaryModel(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = new Uint8Array(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return looksLikeBinaryModel(file, head.subarray(0, bytesRead), (await handle.stat()).size);
  } finally {
    await handle.close();
  }
}

/**
 * Passing our own exclude to findFiles switches off `files.exclude`, so the two are merged here,
 * with node_modules always skipped.
 */
function excludeGlob(): string {
  const filesExclude = vscode.workspace.getConfiguration('files').get<Record<string, boolean>>('exclude', {});
  const patterns = [
    '**/node_modules/**',
    ...Object.entries(filesExclude).filter(([, on]) => on === true).map(([glob]) => glob),
    ...readSettings().exclude,
  ];
  return `{${patterns.join(',')}}`;
}
