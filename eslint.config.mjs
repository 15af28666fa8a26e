// ESLint: typescript-eslint's type-checked recommended rules over every TypeScript folder.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'out/', 'node_modules/', 'test-output/', '.vscode-test/', 'examples/', 'docs/'] },
  {
    files: ['{src,webview,test,bench,scripts}/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An async function without await is how an implementation of a promise-returning interface (a
      // product engine, a predictor, an IOHandler) keeps a synchronous throw a rejection; the rule would
      // have each return Promise.resolve(…) and throw synchronously instead.
      '@typescript-eslint/require-await': 'off',
      // Leaving a property out by destructuring it beside a rest ({ dropped: _, ...rest }) is how an object
      // minus a key is written; the TypeScript compiler's own unused check (noUnusedLocals) accepts it too.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
);
