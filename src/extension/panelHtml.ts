/**
 * The panel's page: a strict Content-Security-Policy (scripts only with the nonce, styles and fonts
 * only from the extension's own files), the stylesheets, and the webview bundle. Free of `vscode`
 * so the browser tests serve exactly this page.
 */
export interface PanelPage {
  /** The webview's cspSource (or the test server's origin). */
  cspSource: string;
  nonce: string;
  /** URL of a file of the extension, e.g. resource('dist', 'webview.js'). */
  resource: (...parts: string[]) => string;
}

export function panelHtml(page: PanelPage): string {
  const { cspSource, nonce, resource } = page;
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link id="codicon-css" rel="stylesheet" href="${resource('dist', 'codicons', 'codicon.css')}">
<link id="panel-css" rel="stylesheet" href="${resource('media', 'panel.css')}">
<title>Condense</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${resource('dist', 'webview.js')}"></script>
</body>
</html>`;
}
