package com.example.chatty;

/** bench/run's memory scenario: the service itself is trivial; its test is the chatty part. */
public final class App {

    private App() {
    }

    static String line(int i) {
        return "chatty line " + i + " of 200000: the quick brown fox jumps over the lazy dog";
    }

    public static void main(String[] args) {
        System.out.println(line(0));
    }
}
