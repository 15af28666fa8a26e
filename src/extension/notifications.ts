/**
 * Every notification and progress notification Condense shows goes through here, so text from a
 * model or a path is always made inert first (safeText.ts; quick picks call it on their file names).
 * Details go to the "Condense" log unchanged.
 */
import * as vscode from 'vscode';
import { safeDisplayText } from './safeText';

let channel: vscode.LogOutputChannel | undefined;

/** The "Condense" log (Output panel), made on first use. */
export function condenseLog(): vscode.LogOutputChannel {
  channel ??= vscode.window.createOutputChannel('Condense', { log: true });
  return channel;
}

export function disposeCondenseLog(): void {
  channel?.dispose();
  channel = undefined;
}

export function showInfo<T extends string>(text: string, ...actions: T[]): Thenable<T | undefined> {
  return vscode.window.showInformationMessage(safeDisplayText(text), ...actions);
}

export function showWarning<T extends string>(text: string, ...actions: T[]): Thenable<T | undefined> {
  return vscode.window.showWarningMessage(safeDisplayText(text), ...actions);
}

/** A warning the user must answer before going on. */
export function askModal<T extends string>(text: string, ...actions: T[]): Thenable<T | undefined> {
  return vscode.window.showWarningMessage(safeDisplayText(text), { modal: true }, ...actions);
}

export function showError<T extends string>(text: string, ...actions: T[]): Thenable<T | undefined> {
  return vscode.window.showErrorMessage(safeDisplayText(text), ...actions);
}

export type ProgressReport = vscode.Progress<{ message?: string; increment?: number }>;

/** A progress notification whose title and messages are made inert; with `cancellable`, Cancel aborts the signal `task` gets. */
export function withNotificationProgress<T>(title: string, cancellable: boolean, task: (signal: AbortSignal, progress: ProgressReport) => PromiseLike<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: safeDisplayText(title), cancellable }, (progress, token) => {
    const abort = new AbortController();
    token.onCancellationRequested(() => abort.abort());
    return task(abort.signal, { report: (value) => progress.report(value.message === undefined ? value : { ...value, message: safeDisplayText(value.message) }) });
  });
}
