// ESLint (flat config) with typescript-eslint's type-aware rules. `npm run lint` runs it with
// Prettier's check and the layer rules (.dependency-cruiser.cjs). A disable comment says why.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'adapters/graph/page/**', 'bin/**', '*.cjs', '*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Named exports only (STYLE.md): list what a module re-exports.' },
      ],
      // Async methods often implement a Promise-returning contract (Handler, stores) without awaiting
      // anything: `async` is what turns a throw into a rejection there, which callers rely on.
      '@typescript-eslint/require-await': 'off',
      // Attribute, label and dimension values are `unknown` where they cross a boundary and are
      // turned into text on purpose (decode.ts admits only primitives and string maps there).
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests read JSON answers of Mixer, Prometheus and Zipkin whose shape is the thing under test:
    // they index into `any` on purpose and assert on what they find.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
