export * from './note.ts';
export * from './checkpoint.ts';
export * from './cosignature.ts';
export * from './signer.ts';
