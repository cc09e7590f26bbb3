// Loaded by .config/jest.config.js (setupFilesAfterEnv: <rootDir>/jest-setup.js).
import './.config/jest-setup';
